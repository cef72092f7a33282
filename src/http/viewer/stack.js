// --- The stack and its series -------------------------------------------------------------
const series = () => fg.stack.series[fg.series];
// The image `i` of the stack on screen: the series' own, or a reformat's (plane.js).
const entry = (i) => (fg.plane && plane() ? planeEntry(plane(), i) : fg.stack.entries[fg.first + i]);
// A frame or a reformat: rendered by the server, so it takes a window and a viewport.
function isDicom(e) { return /\/-\/(frames|reformat)\//.test(e.url) || /^(frames|reformat)\//.test(e.url); }
const windowable = () => series().dicom && !series().color;
const spacing = () => (plane() ? plane().pixel_spacing : series().pixel_spacing || series().region_spacing);

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

