// --- Full-image mode, the first-use hint, key images ------------------------------------------
// A tap on the image (a finger that neither moved nor tapped again) hides the toolbars, and the
// next one brings them back: the image gets the whole screen. The first time a touch screen
// opens the viewer, a hint names the gestures; it is remembered where storage is allowed.
const HINT_KEY = "framegate.hint.v1", STRIP_KEY = "framegate.strip.v1";
const stored = (key) => { try { return localStorage.getItem(key); } catch { return null; } };
const store = (key, value) => { try { localStorage.setItem(key, value); } catch { /* private mode: forgotten */ } };
let chromeTimer = null, hintTap = false;
fg.immersive = false;

function setImmersive(on) {
  fg.immersive = on;
  document.body.classList.toggle("immersive", on);
  if (on) openTools(false);
}
// A single tap waits out a double tap's second, which fits the image instead.
function tapOnImage() {
  if (hintTap) { hintTap = false; return; }
  clearTimeout(chromeTimer);
  chromeTimer = setTimeout(() => setImmersive(!fg.immersive), 360);
}
function doubleTapOnImage() { clearTimeout(chromeTimer); }

// The hint lies over the image but takes no touches: the first touch anywhere on the image
// dismisses it and still does what it does, and is not counted as a tap for full-image mode.
function showHint() {
  const touch = navigator.maxTouchPoints > 0 || matchMedia("(pointer: coarse)").matches;
  if (!touch || stored(HINT_KEY) || document.body.classList.contains("bare")) return;
  const list = $("hint-list");
  for (const [what, does] of GESTURES.slice(0, 3).concat([[t("hintTap"), t("hintTapDoes")]])) {
    const li = document.createElement("li"), b = document.createElement("b");
    b.textContent = what; li.append(b, ` ${does}`); list.append(li);
  }
  $("hint").hidden = false;
}
function dismissHint() { if ($("hint").hidden) return; $("hint").hidden = true; store(HINT_KEY, "seen"); }
stage.addEventListener("pointerdown", () => { if (!$("hint").hidden) { hintTap = true; dismissHint(); } else hintTap = false; }, true);

// The series strip folds away behind a button at the end of the cine bar, and stays folded
// where storage is allowed.
function foldStrip(folded) {
  $("seriesbar").classList.toggle("folded", folded);
  $("strip-toggle").setAttribute("aria-expanded", !folded);
  $("strip-toggle").setAttribute("aria-label", `${t("series")} (${fg.stack.series.length})`);
  $("strip-toggle").textContent = `${folded ? "▸" : "▾"} ${fg.stack.series.length}`;
  store(STRIP_KEY, folded ? "folded" : "open");
}
$("strip-toggle").addEventListener("click", () => foldStrip(!$("seriesbar").classList.contains("folded")));

// A key image: the picture on screen with its annotations and scale bar, and the slice, window
// and series number burned in; no folder name, no file name, nothing of the patient.
function keyImage() {
  if (!displayed) return;
  const dpr = window.devicePixelRatio || 1, c = document.createElement("canvas");
  c.width = canvas.width; c.height = canvas.height;
  const x = c.getContext("2d"), s = series();
  x.drawImage(canvas, 0, 0);
  const lines = [`${t("series")} ${s.number != null ? s.number : fg.series + 1}${s.modality ? " · " + s.modality : ""}`, $("counter").textContent, $("wl").textContent]
    .concat(s.description ? [s.description] : []).filter(Boolean);
  x.font = `${13 * dpr}px system-ui, sans-serif`;
  const w = Math.max(...lines.map((l) => x.measureText(l).width)) + 12 * dpr, lh = 17 * dpr;
  x.fillStyle = "rgba(0,0,0,.75)"; x.fillRect(6 * dpr, 6 * dpr, w, lines.length * lh + 6 * dpr);
  x.fillStyle = "#e8e8e8";
  lines.forEach((l, i) => x.fillText(l, 12 * dpr, 6 * dpr + (i + 1) * lh - 2 * dpr));
  c.toBlob((blob) => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob); a.download = `slice-${fg.shownIndex + 1}.png`;
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
  }, "image/png");
}
$("keyimage").addEventListener("click", keyImage);
