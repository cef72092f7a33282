// --- View transforms -----------------------------------------------------------------------
function refetchIfSizeChanged() { if (fg.stack && frameUrl(fg.index) !== fg.shown && !fg.frameError) request(); }
function fit() { fg.zoom = 1; fg.panX = fg.panY = 0; draw(); overlay(); refetchIfSizeChanged(); }
function native() {
  if (!displayed) return;
  const dpr = window.devicePixelRatio || 1;
  fg.zoom *= 1 / (drawScale(displayed.entry) * dpr); fg.panX = fg.panY = 0;
  draw(); overlay(); refetchIfSizeChanged();
}
function reset() {
  fg.zoom = 1; fg.panX = fg.panY = 0; fg.rotation = 0; fg.flip = false; fg.invert = false;
  // Clearing the annotations is one step back with undo.
  if (fg.measures.length) { fg.measures = []; fg.selected = null; remember(); }
  $("invert").setAttribute("aria-pressed", "false"); $("flip").setAttribute("aria-pressed", "false");
  if (fg.window) defaultWindow(); else { draw(); overlay(); refetchIfSizeChanged(); }
  draw(); overlay();
}
function seriesName(s, k) {
  return [`${t("series")} ${s.number != null ? s.number : k + 1}`, s.folder.split("/").pop(), s.modality].filter(Boolean).join(" · ");
}
function toggleInvert() { fg.invert = !fg.invert; $("invert").setAttribute("aria-pressed", fg.invert); draw(); }
// Clockwise on screen: under a flip, that is the other way round in the image.
function rotate() { fg.rotation = (fg.rotation + (fg.flip ? 3 : 1)) % 4; draw(); overlay(); refetchIfSizeChanged(); }
function toggleFlip() { fg.flip = !fg.flip; $("flip").setAttribute("aria-pressed", fg.flip); draw(); }
function toggleMeasure() {
  fg.measuring = !fg.measuring; $("measure").setAttribute("aria-pressed", fg.measuring); stage.classList.toggle("measure", fg.measuring);
  showAnnotationTools();
}
function setLossless(on) { fg.lossless = on; $("lossless").setAttribute("aria-pressed", on); request(); }

function zoomAt(factor, x, y) {
  const z = Math.max(0.25, Math.min(40, fg.zoom * factor));
  const k = z / fg.zoom, { w, h } = stageSize(), cx = w / 2, cy = h / 2;
  fg.panX = (fg.panX - (x - cx)) * k + (x - cx);
  fg.panY = (fg.panY - (y - cy)) * k + (y - cy);
  fg.zoom = z;
  draw(); overlay();
  clearTimeout(zoomTimer);
  // A sharper frame once zooming rests.
  zoomTimer = setTimeout(refetchIfSizeChanged, 200);
}
let zoomTimer = null;

