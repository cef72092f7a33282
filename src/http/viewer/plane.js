// --- Planes: the reformats framegate cuts through a series, and where the others cross ------
// stack.json lists, for a series that can be reformatted, its own slices' plane first and then
// each reformat, with where its images lie in the patient. A plane is a stack like any other:
// entry(i) gives its images, scrolled, windowed and fetched as frames are. Each plane keeps
// its place while another is shown; reference lines show where those places cross the image.
const PLANE_COLOURS = { axial: "#4af", coronal: "#5d5", sagittal: "#f66" }, OBLIQUE_COLOUR = "#e7e";
const vdot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const vat = (o, step, k) => o.map((v, a) => v + step[a] * k);
const vunit = (v) => { const n = Math.hypot(...v); return v.map((c) => c / n); };

const planes = () => (fg.stack && series().planes) || [];
const planeOf = (name) => planes().find((p) => p.name === name);
// The reformat on screen, or null for the series' own slices.
const plane = () => (fg.plane ? planeOf(fg.plane) : null);
const planeName = () => fg.plane || (planes()[0] || {}).name;
const planeLabel = (name) => (name.startsWith("oblique-") ? t("oblique", name.slice(8)) : t(name));

// A reformat's images as stack entries, made once per plane.
const planeEntries = new Map();
function planeEntry(p, i) {
  if (!planeEntries.has(p)) {
    const own = fg.stack.entries[series().first], normal = vunit(p.step);
    planeEntries.set(p, Array.from({ length: p.frames }, (_, k) => ({ url: p.url.replace("{n}", k + 1), rows: p.rows, columns: p.columns,
      window: own.window, position: vdot(vat(p.origin, p.step, k), normal) })));
  }
  return planeEntries.get(p)[i];
}

// The plane control, for the series on screen: hidden when it cannot be reformatted.
function buildPlanes() {
  const select = $("plane");
  select.textContent = "";
  for (const p of planes()) { const o = document.createElement("option"); o.value = p.name; o.textContent = planeLabel(p.name); select.append(o); }
  select.hidden = planes().length < 2;
  select.value = planeName() || "";
}

function selectPlane(name) {
  const own = planes()[0];
  if (!own || !planeOf(name)) return;
  const target = name === own.name ? null : name;
  if (target === fg.plane) return;
  fg.planeIndex[planeName()] = fg.index;
  forgetSeries();
  stop();
  fg.plane = target;
  const p = planeOf(name);
  fg.count = target ? p.frames : series().frames;
  // A plane not yet seen opens at its middle: through the centre of the series.
  const kept = fg.planeIndex[name];
  fg.index = Math.max(0, Math.min(fg.count - 1, kept != null ? kept : Math.floor(fg.count / 2)));
  fg.shownIndex = null; fg.shown = null; fg.frameError = null; fg.selected = null; fg.zoom = 1; fg.panX = fg.panY = 0;
  $("slider").max = fg.count; $("slider").value = fg.index + 1;
  $("plane").value = name;
  $("measure").hidden = !spacing();
  showAnnotationTools();
  findGaps(); request(); overlay();
}

// Where plane `name` (at its kept place) crosses the image on screen, in image pixels; null
// when it misses the image or lies in it.
function crossing(other, index) {
  const here = plane() || planes()[0], i = fg.shownIndex;
  if (!here || i === null) return null;
  const origin = vat(here.origin, here.step, i), [rs, cs] = here.pixel_spacing;
  const n = vunit(other.step), p = vat(other.origin, other.step, index);
  // n · (origin + x·cs·row + y·rs·column − p) = 0, a line a·x + b·y + c = 0 in pixel centres.
  const a = cs * vdot(n, here.row), b = rs * vdot(n, here.column), c = vdot(n, origin) - vdot(n, p);
  const w = here.columns - 1, h = here.rows - 1, points = [];
  if (Math.abs(b) > 1e-9) for (const x of [0, w]) { const y = -(c + a * x) / b; if (y >= -1e-6 && y <= h + 1e-6) points.push({ x, y }); }
  if (Math.abs(a) > 1e-9) for (const y of [0, h]) { const x = -(c + b * y) / a; if (x >= -1e-6 && x <= w + 1e-6) points.push({ x, y }); }
  const distinct = points.filter((q, k) => points.findIndex((r) => Math.hypot(r.x - q.x, r.y - q.y) < 1e-3) === k);
  return distinct.length >= 2 ? { a: distinct[0], b: distinct[1] } : null;
}

// The other planes' places as lines over the image: the series' own slices and the two
// principal reformats always, an oblique once it has been looked at.
function drawReferenceLines(m) {
  fg.refLines = [];
  if (planes().length < 2) return;
  const dpr = window.devicePixelRatio || 1;
  ctx2d.setTransform(1, 0, 0, 1, 0, 0);
  for (const other of planes()) {
    if (other.name === planeName() || (other.name.startsWith("oblique-") && fg.planeIndex[other.name] == null)) continue;
    const kept = fg.planeIndex[other.name], index = kept != null ? kept : Math.floor(other.frames / 2);
    const line = crossing(other, index);
    if (!line) continue;
    fg.refLines.push({ name: other.name, index, a: line.a, b: line.b });
    const a = m.transformPoint({ x: line.a.x + 0.5, y: line.a.y + 0.5 }), b = m.transformPoint({ x: line.b.x + 0.5, y: line.b.y + 0.5 });
    ctx2d.strokeStyle = PLANE_COLOURS[other.name] || OBLIQUE_COLOUR; ctx2d.lineWidth = 1.5 * dpr; ctx2d.setLineDash([6 * dpr, 4 * dpr]);
    ctx2d.beginPath(); ctx2d.moveTo(a.x, a.y); ctx2d.lineTo(b.x, b.y); ctx2d.stroke();
  }
  ctx2d.setLineDash([]);
}

$("plane").addEventListener("change", (e) => { selectPlane(e.target.value); e.target.blur(); });
