// --- Series --------------------------------------------------------------------------------
function findGaps() {
  fg.gaps = {};
  const pos = Array.from({ length: fg.count }, (_, i) => entry(i).position);
  if (fg.count < 3 || pos.some((p) => p == null)) return;
  const steps = pos.slice(1).map((p, i) => Math.abs(p - pos[i])), sorted = [...steps].sort((a, b) => a - b);
  const typical = sorted[Math.floor(sorted.length / 2)];
  if (!(typical > 0)) return;
  steps.forEach((s, i) => { if (s > typical * 1.5) fg.gaps[i + 1] = Math.round(s / typical) - 1; });
  const marks = $("gaps");
  marks.textContent = "";
  for (const i of Object.keys(fg.gaps)) { const m = document.createElement("i"); m.style.left = `${(100 * (i - 0.5)) / (fg.count - 1)}%`; marks.append(m); }
}

// Each series keeps its place (slice, window) while another is looked at; its lines keep their
// series and slice, so they come back with it.
const places = {};
function selectSeries(k, slice) {
  // From a reformat, the series' place is the slice its own plane was last on.
  const ownIndex = fg.plane ? fg.planeIndex[planes()[0].name] : fg.index;
  if (fg.count) places[fg.series] = { index: ownIndex != null ? ownIndex : 0, window: fg.window };
  forgetSeries();
  fg.series = k; fg.first = series().first; fg.count = series().frames; fg.plane = null; fg.planeIndex = {};
  const place = places[k];
  fg.index = Math.max(0, Math.min(fg.count - 1, slice ? slice - 1 : place ? place.index : 0));
  fg.shownIndex = null; fg.shown = null; fg.frameError = null; fg.selected = null; fg.window = null; fg.zoom = 1; fg.panX = fg.panY = 0;
  $("gaps").textContent = "";
  stop();
  const single = fg.count < 2;
  for (const id of ["play", "prev", "next", "track", "speed", "loop"]) $(id).hidden = single;
  const dicom = series().dicom;
  // A mouse has its right button for window/level; only touch needs a mode for the swipe.
  $("mode").hidden = !windowable() || !matchMedia("(pointer: coarse)").matches; $("lossless").hidden = !dicom;
  $("measure").hidden = !spacing();
  if (fg.measuring) showAnnotationTools();
  $("warning").hidden = !series().burned_in_annotation; $("warning").textContent = t("burned");
  $("slider").max = fg.count; $("slider").value = fg.index + 1;
  document.querySelectorAll("#seriesbar button").forEach((b, i) => b.setAttribute("aria-pressed", i === k));
  buildPresets(); buildPlanes(); findGaps();
  const w = (options.get("window") || "").split(",").map(Number);
  options.delete("window");
  if (w.length === 2 && w.every(Number.isFinite) && windowable()) setWindow(w[0], w[1]);
  else if (place && place.window) setWindow(place.window.center, place.window.width);
  else request();
  overlay(); chooseLayout();
}

function seriesBar() {
  const bar = $("seriesbar");
  bar.hidden = fg.stack.series.length < 2;
  if (bar.hidden) return;
  $("strip-toggle").hidden = false;
  fg.stack.series.forEach((s, k) => {
    const b = document.createElement("button"), img = document.createElement("img");
    const mid = fg.stack.entries[s.first + Math.floor(s.frames / 2)];
    // A thumbnail is the middle frame fitted by the server to 128 px: a few kB.
    img.src = isDicom(mid) ? `${mid.url}${mid.url.includes("?") ? "&" : "?"}viewport=128,128` : mid.url;
    img.alt = "";
    const label = document.createElement("span");
    label.textContent = [s.folder.split("/").pop(), s.number != null ? `#${s.number}` : "", s.modality || "", `(${s.frames})`, s.description].filter(Boolean).join(" ");
    b.append(img, label);
    b.setAttribute("aria-label", `${t("series")} ${k + 1}: ${label.textContent}`);
    b.addEventListener("click", () => selectSeries(k));
    bar.append(b);
  });
  foldStrip(stored(STRIP_KEY) === "folded");
}

function start(stack) {
  // A manifest from before series were grouped is one series.
  if (!stack.series) stack.series = [{ first: 0, frames: stack.entries.length, modality: stack.modality, dicom: stack.entries.some(isDicom), color: false,
    pixel_spacing: stack.pixel_spacing, slice_thickness: stack.slice_thickness, frame_time: stack.frame_time, burned_in_annotation: stack.burned_in_annotation, folder: "" }];
  fg.stack = stack;
  seriesBar(); buildSpeeds();
  const k = Math.max(0, Math.min(stack.series.length - 1, (Number(options.get("series")) || 1) - 1));
  selectSeries(k, Number(options.get("slice")) || 1);
}

// The host page may move the viewer: {type: "go", slice} (from 1), {type: "series", series}.
window.addEventListener("message", (e) => {
  if (e.source !== window.parent || !e.data || !fg.stack) return;
  if (e.data.type === "go") go(Number(e.data.slice) - 1);
  else if (e.data.type === "series") selectSeries(Number(e.data.series) - 1);
});

for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
document.documentElement.lang = lang;
setMode(false); stop();
if (/^(none|0|false)$/.test(options.get("controls") || "")) document.body.classList.add("bare");
// Whatever changes the image area's size (a menu, a rotated phone, the series strip), the canvas
// is redrawn at once: a medical image is never shown stretched, not even for a moment.
new ResizeObserver(() => { draw(); overlay(); refetchIfSizeChanged(); }).observe(stage);
window.addEventListener("resize", chooseLayout);
chooseLayout();
showHint();
// Safari zooms the page on its own gesture events, whatever touch-action says.
for (const type of ["gesturestart", "gesturechange"]) document.addEventListener(type, (e) => e.preventDefault());
document.addEventListener("touchmove", (e) => { if (e.touches.length > 1 && !stage.contains(e.target)) e.preventDefault(); }, { passive: false });

$("loading").hidden = false; $("loading-text").textContent = t("loadingSeries");
// stack.json is built on the server's render pool, so it too can meet a busy server.
fetchRetrying("stack.json", new AbortController().signal).then((r) => {
  if (!r.ok) { fail(r.status); return; }
  return r.json().then(start);
}).catch((e) => fail(e.status || 0));
