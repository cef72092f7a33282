// --- Drawing -----------------------------------------------------------------------------
function stageSize() { return { w: stage.clientWidth, h: stage.clientHeight }; }
function drawScale(e) {
  const { w, h } = stageSize();
  const [iw, ih] = fg.rotation % 2 ? [e.rows, e.columns] : [e.columns, e.rows];
  return Math.min(w / iw, h / ih) * fg.zoom;
}
// Image pixel coordinates (of the stored image, whatever size was fetched) to CSS pixels.
function imageMatrix(e) {
  const { w, h } = stageSize(), s = drawScale(e);
  // Flip mirrors the screen left to right, whatever the rotation.
  return new DOMMatrix().translate(w / 2 + fg.panX, h / 2 + fg.panY).scale(fg.flip ? -1 : 1, 1).rotate(fg.rotation * 90)
    .scale(s).translate(-e.columns / 2, -e.rows / 2);
}

// W/L while dragging: the picture on screen was rendered with one window; each grey level is
// mapped to what the new window would give it, until the server's exact render arrives.
let previewSource = null;
function previewCanvas() {
  const b = displayed.bitmap;
  if (!previewSource || previewSource.bitmap !== b) {
    const c = new OffscreenCanvas(b.width, b.height), x = c.getContext("2d", { willReadFrequently: true });
    x.drawImage(b, 0, 0);
    previewSource = { bitmap: b, data: x.getImageData(0, 0, b.width, b.height), canvas: c, ctx: x };
  }
  const from = displayed.window || displayed.entry.window || { center: 128, width: 256 }, to = fg.window;
  const lut = new Uint8ClampedArray(256);
  for (let v = 0; v < 256; v++) {
    const x = from.center - from.width / 2 + (v / 255) * from.width;
    lut[v] = ((x - (to.center - to.width / 2)) / to.width) * 255;
  }
  const src = previewSource.data.data, out = new ImageData(b.width, b.height), d = out.data;
  for (let i = 0; i < src.length; i += 4) { d[i] = lut[src[i]]; d[i + 1] = lut[src[i + 1]]; d[i + 2] = lut[src[i + 2]]; d[i + 3] = 255; }
  previewSource.ctx.putImageData(out, 0, 0);
  return previewSource.canvas;
}

function draw() {
  const dpr = window.devicePixelRatio || 1, { w, h } = stageSize();
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
  }
  ctx2d.setTransform(1, 0, 0, 1, 0, 0);
  ctx2d.fillStyle = "#000"; ctx2d.fillRect(0, 0, canvas.width, canvas.height);
  fg.scaleBar = null;
  if (!displayed) { markers(); return; }
  const e = displayed.entry, m = new DOMMatrix().scale(dpr).multiply(imageMatrix(e));
  ctx2d.setTransform(m);
  ctx2d.imageSmoothingQuality = "high";
  ctx2d.filter = fg.invert ? "invert(1)" : "none";
  ctx2d.drawImage(fg.preview ? previewCanvas() : displayed.bitmap, 0, 0, e.columns, e.rows);
  ctx2d.filter = "none";
  drawReferenceLines(m);
  drawMeasures(m);
  drawScaleBar(e, dpr);
  drawLoupe(dpr);
  markers();
}

// A fingertip hides the end point it drags: a magnified circle beside the finger shows it.
function drawLoupe(dpr) {
  if (!fg.loupe) return;
  const r = 50 * dpr, k = 2, x = fg.loupe.x * dpr, y = fg.loupe.y * dpr;
  const cy = y - 2 * r > r ? y - 2 * r : y + 2 * r;
  ctx2d.setTransform(1, 0, 0, 1, 0, 0);
  ctx2d.save(); ctx2d.beginPath(); ctx2d.arc(x, cy, r, 0, 7); ctx2d.clip();
  ctx2d.fillStyle = "#000"; ctx2d.fillRect(x - r, cy - r, 2 * r, 2 * r);
  ctx2d.drawImage(canvas, x - r / k, y - r / k, (2 * r) / k, (2 * r) / k, x - r, cy - r, 2 * r, 2 * r);
  ctx2d.restore();
  ctx2d.lineWidth = 2 * dpr; ctx2d.strokeStyle = "#fd4";
  ctx2d.beginPath(); ctx2d.arc(x, cy, r, 0, 7); ctx2d.stroke();
  ctx2d.lineWidth = dpr; ctx2d.strokeStyle = "#000"; ctx2d.beginPath(); ctx2d.moveTo(x - 8 * dpr, cy); ctx2d.lineTo(x + 8 * dpr, cy); ctx2d.moveTo(x, cy - 8 * dpr); ctx2d.lineTo(x, cy + 8 * dpr); ctx2d.stroke();
}

const mm = (a, b) => { const [rs, cs] = spacing() || [1, 1]; return Math.hypot((b.x - a.x) * cs, (b.y - a.y) * rs); };
function drawMeasures(m) {
  const dpr = window.devicePixelRatio || 1;
  ctx2d.setTransform(1, 0, 0, 1, 0, 0);
  ctx2d.font = `${13 * dpr}px system-ui, sans-serif`;
  // End points a finger can see around: bigger, with a dark ring; the selected one is brighter.
  const dot = (matchMedia("(pointer: coarse)").matches ? 6 : 3.5) * dpr;
  for (const item of linesHere()) {
    // Values are asked for once the annotation rests, not on every step of a drag.
    if (!(gesture && gesture.line === item)) refreshStats(item);
    drawAnnotation(item, m, dpr, dot);
  }
}
const linesHere = () => fg.measures.filter((l) => l.series === fg.series && l.plane === fg.plane && l.index === fg.shownIndex);
function drawScaleBar(e, dpr) {
  const sp = spacing();
  if (!sp) return;
  const pxPerMm = drawScale(e) / sp[1], { w, h } = stageSize();
  const length = [1, 2, 5, 10, 20, 50, 100, 200, 500].filter((l) => l * pxPerMm <= w / 4).pop();
  if (!length) return;
  const px = length * pxPerMm, x = w - 16 - px, y = h - 18;
  fg.scaleBar = { mm: length, px };
  ctx2d.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx2d.font = "12px system-ui, sans-serif";
  // On the same dark plate as the overlay texts: readable on a white (inverted) image too.
  const label = `${length} mm`, tw = ctx2d.measureText(label).width, left = Math.min(x, x + px / 2 - tw / 2) - 4;
  fg.scaleBar.rect = { x: left, y: y - 20, w: Math.max(px, tw) + 8, h: 24 };
  ctx2d.fillStyle = "rgba(0,0,0,.75)"; ctx2d.fillRect(left, y - 20, Math.max(px, tw) + 8, 24);
  ctx2d.strokeStyle = "#eee"; ctx2d.fillStyle = "#eee"; ctx2d.lineWidth = 2;
  ctx2d.beginPath(); ctx2d.moveTo(x, y - 5); ctx2d.lineTo(x, y); ctx2d.lineTo(x + px, y); ctx2d.lineTo(x + px, y - 5); ctx2d.stroke();
  ctx2d.textAlign = "center"; ctx2d.fillText(label, x + px / 2, y - 6); ctx2d.textAlign = "start";
}

// Orientation markers: the patient direction (L/R, A/P, H/F) of each screen edge, from Image
// Orientation (Patient) through the rotation and flip on screen.
function letters(v) {
  const axes = [["L", "R"], ["P", "A"], ["H", "F"]];
  return [0, 1, 2].filter((k) => Math.abs(v[k]) > 0.3).sort((a, b) => Math.abs(v[b]) - Math.abs(v[a]))
    .map((k) => axes[k][v[k] > 0 ? 0 : 1]).join("");
}
function markers() {
  // A reformat's image lies along its own directions.
  const o = fg.stack && (plane() ? [...plane().row, ...plane().column] : series().orientation);
  const ids = ["left", "right", "top", "bottom"];
  if (!o || !displayed) { ids.forEach((id) => { $("mk-" + id).textContent = ""; }); fg.markers = null; return; }
  const inv = imageMatrix(displayed.entry).inverse(), zero = inv.transformPoint({ x: 0, y: 0 });
  const dir = (x, y) => { const p = inv.transformPoint({ x, y }); const dx = p.x - zero.x, dy = p.y - zero.y, n = Math.hypot(dx, dy);
    return [0, 1, 2].map((k) => (dx * o[k] + dy * o[3 + k]) / n); };
  const right = dir(1, 0), down = dir(0, 1), neg = (v) => v.map((c) => -c);
  fg.markers = { left: letters(neg(right)), right: letters(right), top: letters(neg(down)), bottom: letters(down) };
  ids.forEach((id) => { $("mk-" + id).textContent = fg.markers[id]; });
}

