// --- Annotations ---------------------------------------------------------------------------
// Lines, angles, rectangles, ellipses and value probes, each on its series and slice, in image
// pixel coordinates. Lengths and angles are geometry here, in mm through the pixel spacing (a
// pixel may be taller than wide); values come from the server's region route, which reads the
// stored samples that the JPEG on screen no longer holds. Every finished change is a step that
// undo and redo walk.
const HANDLES = { line: ["a", "b"], angle: ["a", "b", "c"], rect: ["a", "b"], ellipse: ["a", "b"], probe: ["a"] };
const kindOf = (item) => item.kind || "line";
const handlesOf = (item) => HANDLES[kindOf(item)].filter((h) => item[h]);
const measuresValues = (item) => ["rect", "ellipse", "probe"].includes(kindOf(item));
fg.tool = "line";          // what a drag on the image draws while measuring
fg.history = [[]];         // fg.measures after each finished change; the last is the present
fg.future = [];            // the changes undone, for redo

// The angle at b between b→a and b→c, in degrees, measured in mm.
function angleOf(item) {
  const [rs, cs] = spacing() || [1, 1], { a, b, c } = item;
  const u = [(a.x - b.x) * cs, (a.y - b.y) * rs], v = [(c.x - b.x) * cs, (c.y - b.y) * rs];
  const n = Math.hypot(...u) * Math.hypot(...v);
  return n ? (Math.acos(Math.max(-1, Math.min(1, (u[0] * v[0] + u[1] * v[1]) / n))) * 180) / Math.PI : 0;
}

// What an annotation says, in the lines it is drawn with.
const valueText = (v, digits, unit) => `${v.toFixed(digits)}${unit ? " " + unit : ""}`;
function labelLines(item) {
  const kind = kindOf(item);
  if (kind === "line") return [`${mm(item.a, item.b).toFixed(1)} mm`];
  if (kind === "angle") return item.c ? [`${angleOf(item).toFixed(1)}°`] : [t("thirdPoint")];
  const s = item.stats;
  if (!s) return ["…"];
  if (s.error) return [s.error];
  if (kind === "probe") return [valueText(s.mean, Number.isInteger(s.mean) ? 0 : 1, s.unit)];
  const area = s.area_mm2 != null ? `${s.area_mm2.toFixed(1)} mm²` : `${s.count} px`;
  return [`${t("mean")} ${valueText(s.mean, 1, s.unit)} ± ${s.sd.toFixed(1)}`, `${t("min")} ${s.min.toFixed(0)} ${t("max")} ${s.max.toFixed(0)} · ${area}`];
}
const labelOf = (item) => labelLines(item).join(" · ");

// The region route of an annotation's frame: frames/{n}.jpg?… becomes frames/{n}/region?….
function regionUrl(item) {
  // A reformat's pixels are interpolated between slices: no stored value lies under them.
  const e = fg.stack.entries[fg.stack.series[item.series].first + item.index];
  if (item.plane || !isDicom(e)) return null;
  const base = e.url.replace(/\?.*$/, "").replace(/\.(jpg|png)$/, "/region"), r = (v) => v.toFixed(2);
  const { a, b } = item;
  const q = kindOf(item) === "probe" ? `shape=point&x=${r(a.x)}&y=${r(a.y)}`
    : `shape=${kindOf(item)}&x0=${r(a.x)}&y0=${r(a.y)}&x1=${r(b.x)}&y1=${r(b.y)}`;
  return `${base}?${q}`;
}
// Values are asked for once an annotation rests, and again whenever its geometry changed.
function refreshStats(item) {
  if (!measuresValues(item)) return;
  const url = regionUrl(item);
  if (!url || item.statsFor === url) return;
  item.statsFor = url; item.stats = null;
  fetchRetrying(url, new AbortController().signal).then(async (r) => {
    const body = await r.json().catch(() => ({}));
    if (item.statsFor !== url) return;
    item.stats = r.ok ? body : { error: body.error || `${r.status}` };
    draw(); overlay(); renderList();
  }).catch(() => { if (item.statsFor === url) { item.stats = { error: t("network") }; draw(); overlay(); } });
}

function drawAnnotation(item, m, dpr, dot) {
  const kind = kindOf(item), selected = item === fg.selected, colour = selected ? "#ffe680" : "#fd4";
  const p = Object.fromEntries(handlesOf(item).map((h) => [h, m.transformPoint(item[h])]));
  const path = () => {
    ctx2d.beginPath();
    if (kind === "line") { ctx2d.moveTo(p.a.x, p.a.y); ctx2d.lineTo(p.b.x, p.b.y); }
    else if (kind === "angle") { ctx2d.moveTo(p.a.x, p.a.y); ctx2d.lineTo(p.b.x, p.b.y); if (p.c) ctx2d.lineTo(p.c.x, p.c.y); }
    else if (kind === "probe") { const r = 9 * dpr; ctx2d.moveTo(p.a.x - r, p.a.y); ctx2d.lineTo(p.a.x + r, p.a.y); ctx2d.moveTo(p.a.x, p.a.y - r); ctx2d.lineTo(p.a.x, p.a.y + r); }
    else {
      // Rectangles and ellipses are the image's: under a rotation their corners are the
      // transformed corners, not a box on screen.
      const c = [[item.a.x, item.a.y], [item.b.x, item.a.y], [item.b.x, item.b.y], [item.a.x, item.b.y]].map(([x, y]) => m.transformPoint({ x, y }));
      if (kind === "rect") { ctx2d.moveTo(c[0].x, c[0].y); for (const q of c.slice(1)) ctx2d.lineTo(q.x, q.y); ctx2d.closePath(); }
      else {
        const cx = (item.a.x + item.b.x) / 2, cy = (item.a.y + item.b.y) / 2, rx = Math.abs(item.b.x - item.a.x) / 2, ry = Math.abs(item.b.y - item.a.y) / 2;
        for (let k = 0; k <= 64; k++) {
          const q = m.transformPoint({ x: cx + rx * Math.cos((k / 32) * Math.PI), y: cy + ry * Math.sin((k / 32) * Math.PI) });
          if (k) ctx2d.lineTo(q.x, q.y); else ctx2d.moveTo(q.x, q.y);
        }
      }
    }
  };
  path();
  if (selected) { ctx2d.strokeStyle = "rgba(0,0,0,.8)"; ctx2d.lineWidth = 6 * dpr; ctx2d.stroke(); }
  ctx2d.strokeStyle = colour; ctx2d.fillStyle = colour; ctx2d.lineWidth = (selected ? 3 : 2) * dpr; ctx2d.stroke();
  for (const h of Object.values(p)) {
    ctx2d.beginPath(); ctx2d.arc(h.x, h.y, kind === "probe" ? dot * 0.6 : dot, 0, 7); ctx2d.fill();
    ctx2d.lineWidth = dpr; ctx2d.strokeStyle = "#000"; ctx2d.stroke();
  }
  // The label on a dark plate beside the last handle, readable on an inverted image too.
  const at = p.c || p.b || p.a, lines = labelLines(item), lh = 16 * dpr;
  const w = Math.max(...lines.map((l) => ctx2d.measureText(l).width)) + 8 * dpr;
  const x = Math.min(at.x + 10 * dpr, canvas.width - w - 2), y = Math.max(at.y - 10 * dpr - lines.length * lh, 2);
  ctx2d.fillStyle = "rgba(0,0,0,.7)"; ctx2d.fillRect(x, y, w, lines.length * lh + 4 * dpr);
  ctx2d.fillStyle = colour;
  lines.forEach((l, i) => ctx2d.fillText(l, x + 4 * dpr, y + (i + 1) * lh - 2 * dpr));
}

// --- Changing annotations: steps that undo and redo walk --------------------------------------
// Points are replaced, never changed in place, so a shallow copy keeps a step apart from what
// follows it; values are asked for again rather than kept.
const snapshot = () => fg.measures.map((item) => ({ ...item, stats: null, statsFor: null }));
function remember() {
  fg.history.push(snapshot());
  fg.future = [];
  annotationsChanged();
}
function restore(list) {
  fg.measures = list.map((item) => ({ ...item }));
  fg.selected = null;
  annotationsChanged();
}
function undo() { if (fg.history.length > 1) { fg.future.push(fg.history.pop()); restore(fg.history[fg.history.length - 1]); } }
function redo() { if (fg.future.length) { const next = fg.future.pop(); fg.history.push(next); restore(next); } }
function annotationsChanged() {
  $("undo").disabled = fg.history.length < 2; $("redo").disabled = !fg.future.length;
  draw(); overlay(); renderList();
}
function deleteSelected() {
  if (!fg.selected) return;
  fg.measures = fg.measures.filter((l) => l !== fg.selected);
  fg.selected = null;
  remember();
}

function chooseAnnotation(kind) {
  fg.tool = kind;
  // An angle left at two points is not an angle.
  fg.measures = fg.measures.filter((item) => kindOf(item) !== "angle" || item.c);
  document.querySelectorAll("#annotools [data-tool]").forEach((b) => b.setAttribute("aria-pressed", b.dataset.tool === kind));
}
// The annotation tools show while measuring; those that read values need a grey DICOM series.
function showAnnotationTools() {
  $("annotools").hidden = !fg.measuring;
  for (const kind of ["rect", "ellipse", "probe"]) document.querySelector(`#annotools [data-tool="${kind}"]`).hidden = !windowable() || !!fg.plane;
  if (!fg.measuring) showList(false);
  chooseAnnotation((!windowable() || fg.plane) && measuresValues({ kind: fg.tool }) ? "line" : fg.tool);
}
document.querySelectorAll("#annotools [data-tool]").forEach((b) => {
  b.setAttribute("aria-label", t(b.dataset.tool)); b.title = t(b.dataset.tool);
  b.addEventListener("click", () => chooseAnnotation(b.dataset.tool));
});
$("undo").addEventListener("click", undo);
$("redo").addEventListener("click", redo);
$("listbtn").addEventListener("click", () => showList($("annolist").hidden));
for (const id of ["undo", "redo", "listbtn"]) { $(id).setAttribute("aria-label", t(id)); $(id).title = t(id); }

// --- The list of measurements: each with its slice, a jump there, and a delete --------------
function showList(on) {
  $("annolist").hidden = !on; $("listbtn").setAttribute("aria-pressed", on);
  renderList();
}
function jumpTo(item) {
  if (item.series !== fg.series) selectSeries(item.series, item.index + 1);
  if ((item.plane || null) !== fg.plane) selectPlane(item.plane || planes()[0].name);
  if (fg.index !== item.index) { stop(); go(item.index); }
  fg.selected = item;
  draw(); overlay();
}
function renderList() {
  const list = $("annolist");
  if (list.hidden) return;
  list.textContent = "";
  if (!fg.measures.length) { const p = document.createElement("p"); p.textContent = t("noMeasures"); list.append(p); return; }
  const many = fg.stack && fg.stack.series.length > 1;
  for (const item of fg.measures) {
    // A row names its values wherever its slice is: an undone deletion asks for them again.
    refreshStats(item);
    const row = document.createElement("div"), jump = document.createElement("button"), del = document.createElement("button");
    const where = `${many ? `${t("series")} ${item.series + 1} · ` : ""}${item.plane ? `${planeLabel(item.plane)} · ` : ""}${t("sliceShort")} ${item.index + 1}`;
    jump.className = "jump"; jump.textContent = `${where} · ${t(kindOf(item))} ${labelOf(item)}`;
    jump.addEventListener("click", () => jumpTo(item));
    del.className = "del"; del.textContent = "×"; del.setAttribute("aria-label", `${t("delete")} ${jump.textContent}`);
    del.addEventListener("click", () => { fg.measures = fg.measures.filter((l) => l !== item); if (fg.selected === item) fg.selected = null; remember(); });
    if (item === fg.selected) row.className = "selected";
    row.append(jump, del);
    list.append(row);
  }
}
$("undo").disabled = $("redo").disabled = true;
