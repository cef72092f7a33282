// --- The stack and its series -------------------------------------------------------------
const series = () => fg.stack.series[fg.series];
const entry = (i) => fg.stack.entries[fg.first + i];
function isDicom(e) { return e.url.includes("/-/frames/") || e.url.startsWith("frames/"); }
const windowable = () => series().dicom && !series().color;
const spacing = () => series().pixel_spacing || series().region_spacing;

// Fetch at the canvas's device-pixel size when that is smaller than the image: a phone gets a
// fraction of the bytes. Sizes come in steps so that small zooms reuse what was fetched.
function scaleStep(e) {
  const k = drawScale(e) * (window.devicePixelRatio || 1);
  return VIEWPORT_STEPS.find((s) => s >= k) || 1;
}
function frameUrl(i) {
  const e = entry(i);
  if (!isDicom(e)) return e.url;
  let url = fg.lossless ? e.url.replace(/\.jpg(\?|$)/, ".png$1") : e.url;
  const params = [];
  if (fg.window && windowable()) params.push(`window=${fg.window.center.toFixed(1)},${fg.window.width.toFixed(1)}`);
  const k = scaleStep(e);
  if (k < 1) params.push(`viewport=${Math.ceil(e.columns * k)},${Math.ceil(e.rows * k)}`);
  if (!params.length) return url;
  return url + (url.includes("?") ? "&" : "?") + params.join("&");
}

