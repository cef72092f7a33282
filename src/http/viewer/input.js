// --- Input -------------------------------------------------------------------------------
// The wheel: a mouse notch (a large delta, or lines) moves one slice per notch; a trackpad's
// stream of small deltas adds up, one slice per WHEEL_PIXELS.
const WHEEL_PIXELS = 50;
let wheelRest = 0, wheelAt = 0;
stage.addEventListener("wheel", (e) => {
  e.preventDefault();
  if (e.ctrlKey) { zoomAt(Math.exp(-e.deltaY / 300), e.offsetX, e.offsetY); return; }
  const lines = e.deltaMode === 1, px = e.deltaMode === 2 ? e.deltaY * 800 : e.deltaY;
  if (lines || Math.abs(px) >= 100) {
    wheelRest = 0;
    go(fg.index + Math.sign(px) * Math.max(1, Math.round(Math.abs(px) / (lines ? 3 : 100))));
    return;
  }
  if (e.timeStamp - wheelAt > 400 || Math.sign(wheelRest) !== Math.sign(px)) wheelRest = 0;
  wheelAt = e.timeStamp;
  wheelRest += px;
  const steps = Math.trunc(wheelRest / WHEEL_PIXELS);
  if (steps) { wheelRest -= steps * WHEEL_PIXELS; go(fg.index + steps); }
}, { passive: false });

document.addEventListener("keydown", (e) => {
  const tag = e.target.tagName;
  // Undo and redo the annotations: Ctrl/Cmd-Z, Shift-Ctrl/Cmd-Z (and Ctrl-Y, as on Windows).
  const z = (e.ctrlKey || e.metaKey) && !e.altKey && tag !== "INPUT" && tag !== "TEXTAREA" ? e.key.toLowerCase() : "";
  if (z === "z" || z === "y") { e.preventDefault(); if (e.shiftKey || z === "y") redo(); else undo(); return; }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  // A list that is open for typing and a button reached by Tab keep their own keys. The slider
  // does not: its keys are the image's, so ↓ moves it the way ↓ moves the image. A button
  // clicked with the mouse gives its focus back (see "click" below), so keys act on the image.
  if ((tag === "INPUT" && e.target !== slider) || tag === "SELECT" || tag === "TEXTAREA") return;
  if (tag === "BUTTON" && [" ", "Enter", "ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight"].includes(e.key)) return;
  if (!$("help").hidden && e.key === "Escape") { showHelp(false); return; }
  if ($("tools").classList.contains("open") && e.key === "Escape") { openTools(false); return; }
  if ((e.key === "Delete" || e.key === "Backspace") && fg.selected) { e.preventDefault(); deleteSelected(); return; }
  const step = { ArrowDown: 1, ArrowRight: 1, PageDown: 10, ArrowUp: -1, ArrowLeft: -1, PageUp: -10 }[e.key];
  const action = {
    Home: () => go(0), End: () => go(Infinity), " ": toggle, l: () => setLossless(!fg.lossless), L: () => setLossless(!fg.lossless),
    i: toggleInvert, r: rotate, h: toggleFlip, f: fit, n: native, m: toggleMeasure, Escape: reset, "?": () => showHelp($("help").hidden),
    0: () => presetKey(0), 1: () => presetKey(1), 2: () => presetKey(2), 3: () => presetKey(3), 4: () => presetKey(4),
  }[e.key];
  if (step) { e.preventDefault(); stop(); go(fg.index + step); }
  else if (action) { e.preventDefault(); action(); }
});

const GESTURES = [["swipe up / down", "previous / next image"], ["pinch, two-finger drag", "zoom, pan"], ["double tap", "fit the image to the screen"], ["tap", "hide or show the controls"],
  ["Swipe: W/L, then swipe", "window / level"], ["Measure, then drag", "draw the chosen tool: a line, an angle (then tap its third point), a rectangle or an ellipse (mean, SD, area), or a value probe; drag a handle to move it"],
  ["Delete, ↶ ↷, ☰", "remove the selected annotation; undo, redo; the list of measurements"], ["Tools", "invert, rotate, flip, 1:1, cine speed"], ["Reset", "everything back as it was opened"]];
const HELP = [["↑ ↓ ← →", "previous / next image"], ["Page Up/Down", "10 images"], ["Home / End", "first / last"], ["Space", "play / pause"],
  ["0", "default window"], ["1 – 4", "CT presets"], ["i", "invert"], ["r", "rotate 90°"], ["h", "flip"], ["f", "fit"], ["n", "1:1"],
  ["m", "measure"], ["Delete", "remove the selected annotation"], ["Ctrl/⌘ + Z", "undo"], ["Shift + Ctrl/⌘ + Z", "redo"], ["l", "lossless PNG"], ["Esc", "reset"], ["?", "this help"],
  ["wheel", "scroll images"], ["ctrl + wheel", "zoom"], ["drag", "pan"], ["right drag", "window / level"]];
function fillHelp(table, rows, kbd) {
  if (table.rows.length) return;
  for (const [k, what] of rows) {
    const r = table.insertRow(), c = r.insertCell();
    if (kbd) { c.innerHTML = "<kbd></kbd>"; c.firstChild.textContent = k; } else c.textContent = k;
    r.insertCell().textContent = what;
  }
}
// A touch screen gets its gestures first; mouse and keys are listed where there is a mouse.
function showHelp(on) {
  const touch = navigator.maxTouchPoints > 0 || matchMedia("(pointer: coarse)").matches, mouse = matchMedia("(any-pointer: fine)").matches || !touch;
  if (on) { fillHelp($("help-gestures"), GESTURES, false); fillHelp($("help-keys"), HELP, true); }
  $("help-touch").hidden = !touch; $("help-mouse").hidden = !mouse;
  $("help").hidden = !on;
  if (on) $("help-close").focus(); else stage.focus();
}
$("helpbtn").addEventListener("click", () => showHelp(true));
$("help-close").addEventListener("click", () => showHelp(false));

// The slider: while it is held, only the frame under it is fetched, one request at a time.
const slider = $("slider");
slider.addEventListener("pointerdown", () => { fg.dragging = true; stop(); });
const release = () => { if (!fg.dragging) return; fg.dragging = false; request(); };
slider.addEventListener("pointerup", () => { release(); slider.blur(); });
slider.addEventListener("change", release);
slider.addEventListener("input", (e) => go(Number(e.target.value) - 1));

// Pointers: mouse left-drag pans (measures in measure mode), right-drag changes window/level.
// Touch: one finger scrolls frames (or changes window/level, or measures), two fingers pinch.
const pointers = new Map();
let gesture = null, lastTap = null, wlSettle = null;
stage.tabIndex = 0;
stage.addEventListener("contextmenu", (e) => e.preventDefault());
function imagePoint(x, y) { const p = imageMatrix(displayed.entry).inverse().transformPoint({ x, y }); return { x: p.x, y: p.y }; }
function wlGesture(e) { return windowable() ? { kind: "wl", x: e.offsetX, y: e.offsetY, start: { ...currentWindow() } } : null; }
stage.addEventListener("pointerdown", (e) => {
  if (e.target !== canvas) return;
  stage.setPointerCapture(e.pointerId);
  pointers.set(e.pointerId, { x: e.offsetX, y: e.offsetY });
  if (pointers.size === 2) {
    // The first finger of a pinch may have drifted enough to scroll: the pinch was never meant
    // to change the slice, so it goes back. A line the first finger began is dropped.
    if (gesture && gesture.kind === "scroll") go(gesture.index);
    if (gesture && gesture.kind === "measure" && gesture.third) delete gesture.line.c;
    else if (gesture && gesture.kind === "measure" && gesture.fresh) dropLine(gesture.line);
    fg.loupe = null;
    const [a, b] = [...pointers.values()];
    gesture = { kind: "pinch", dist: Math.hypot(a.x - b.x, a.y - b.y), mx: (a.x + b.x) / 2, my: (a.y + b.y) / 2 };
  } else if (fg.measuring && displayed && e.button === 0) {
    // On a handle, the point moves; elsewhere a new annotation starts, or an angle drawn to two
    // points gets its third.
    const hit = endPointAt(e.offsetX, e.offsetY, e.pointerType === "touch" ? 28 : 10);
    const a = imagePoint(e.offsetX, e.offsetY), open = fg.tool === "angle" && linesHere().find((l) => kindOf(l) === "angle" && !l.c);
    if (hit) gesture = { kind: "measure", line: hit.line, end: hit.end };
    else if (open) { open.c = a; gesture = { kind: "measure", line: open, end: "c", third: true }; }
    else {
      const line = fg.tool === "probe" ? { kind: "probe", series: fg.series, plane: fg.plane, index: fg.shownIndex, a }
        : { kind: fg.tool, series: fg.series, plane: fg.plane, index: fg.shownIndex, a, b: a };
      fg.measures.push(line);
      gesture = { kind: "measure", line, end: line.b ? "b" : "a", fresh: true };
    }
    fg.selected = gesture.line;
    gesture.touch = e.pointerType === "touch";
    draw(); overlay();
  } else if (e.pointerType === "mouse") {
    gesture = e.button === 2 ? wlGesture(e) : { kind: "pan", x: e.offsetX, y: e.offsetY };
  } else {
    gesture = fg.wlMode ? wlGesture(e) : { kind: "scroll", y: e.offsetY, index: fg.index };
  }
  if (gesture) gesture.moved = false;
});
stage.addEventListener("pointermove", (e) => {
  const p = pointers.get(e.pointerId);
  if (!p || !gesture) return;
  p.x = e.offsetX; p.y = e.offsetY;
  gesture.moved = true;
  if (gesture.kind === "pinch" && pointers.size >= 2) {
    const [a, b] = [...pointers.values()];
    const dist = Math.hypot(a.x - b.x, a.y - b.y), mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2;
    if (gesture.dist > 0) zoomAt(dist / gesture.dist, mx, my);
    fg.panX += mx - gesture.mx; fg.panY += my - gesture.my;
    gesture.dist = dist; gesture.mx = mx; gesture.my = my;
    draw();
  } else if (gesture.kind === "pan") {
    fg.panX += e.offsetX - gesture.x; fg.panY += e.offsetY - gesture.y;
    gesture.x = e.offsetX; gesture.y = e.offsetY;
    draw();
  } else if (gesture.kind === "scroll") {
    // A finger resting on glass drifts a few pixels: that is not a swipe yet.
    if (!gesture.swiping && Math.abs(gesture.y - e.offsetY) < 10) return;
    gesture.swiping = true;
    stop();
    go(gesture.index + Math.round((gesture.y - e.offsetY) / 12));
  } else if (gesture.kind === "measure") {
    gesture.line[gesture.end] = imagePoint(e.offsetX, e.offsetY);
    if (gesture.touch) fg.loupe = { x: e.offsetX, y: e.offsetY };
    draw(); overlay();
  } else if (gesture.kind === "wl") {
    const s = gesture.start, scale = Math.max(1, s.width / 200);
    setWindow(s.center + (e.offsetY - gesture.y) * scale, s.width + (e.offsetX - gesture.x) * scale, false);
    // A finger that rests has settled too: the exact render then, not only when it lifts.
    clearTimeout(wlSettle);
    wlSettle = setTimeout(() => { if (fg.preview) setWindow(fg.window.center, fg.window.width, true); }, 600);
  }
});
function endPointer(e) {
  if (!pointers.delete(e.pointerId)) return;
  const g = gesture;
  if (pointers.size === 0) {
    gesture = null;
    // The drag settled: the server renders the window exactly.
    if (g && g.kind === "wl" && g.moved) { clearTimeout(wlSettle); setWindow(fg.window.center, fg.window.width, true); }
    if (g && g.kind === "measure") {
      fg.loupe = null;
      // A tap is no line; an angle waits for its third point; anything else that changed is a step.
      if (g.fresh && g.line.b && mm(g.line.a, g.line.b) < 0.5) dropLine(g.line);
      else if (kindOf(g.line) === "angle" && !g.line.c) { /* its third point comes next */ }
      else if (g.moved || g.fresh || g.third) remember();
      draw(); overlay();
    }
    if (g && !g.moved && e.pointerType === "touch" && e.type === "pointerup") {
      const now = e.timeStamp;
      // A double tap fits the image again; the window and the lines are work, and stay.
      if (lastTap && now - lastTap.at < 350 && Math.hypot(e.offsetX - lastTap.x, e.offsetY - lastTap.y) < 30) { fit(); lastTap = null; doubleTapOnImage(); }
      else {
        lastTap = { at: now, x: e.offsetX, y: e.offsetY };
        // A tap that places a point is measuring, not asking for the whole screen.
        if (g.kind !== "measure") tapOnImage();
      }
    }
  } else if (g && g.kind === "pinch") {
    const [p] = [...pointers.values()];
    gesture = { kind: "pan", x: p.x, y: p.y, moved: true };
  }
}
stage.addEventListener("pointerup", endPointer);
function dropLine(line) { fg.measures = fg.measures.filter((l) => l !== line); if (fg.selected === line) fg.selected = null; }
// The end point of a line on this slice within `radius` CSS pixels of (x, y), nearest first.
function endPointAt(x, y, radius) {
  if (!displayed) return null;
  const m = imageMatrix(displayed.entry);
  let best = null;
  for (const line of linesHere()) for (const end of handlesOf(line)) {
    const p = m.transformPoint(line[end]), d = Math.hypot(p.x - x, p.y - y);
    if (d <= radius && (!best || d < best.d)) best = { line, end, d };
  }
  return best;
}
stage.addEventListener("pointercancel", endPointer);

function setMode(on) {
  fg.wlMode = on;
  $("mode").setAttribute("aria-pressed", on);
  // The button says what a swipe does now, in words, not in a tooltip only a mouse can see.
  $("mode").textContent = on ? t("swipeWl") : t("swipeSlices");
  if (on) $("live").textContent = t("wlHint");
}
$("mode").addEventListener("click", () => setMode(!fg.wlMode));
$("lossless").addEventListener("click", () => setLossless(!fg.lossless));
$("reset").addEventListener("click", reset);
$("invert").addEventListener("click", toggleInvert);
$("rotate").addEventListener("click", rotate);
$("flip").addEventListener("click", toggleFlip);
$("fit").addEventListener("click", fit);
$("native").addEventListener("click", native);
$("measure").addEventListener("click", toggleMeasure);
$("delete").addEventListener("click", deleteSelected);
$("retry").addEventListener("click", () => { cache.delete(frameUrl(fg.index)); fg.frameError = null; $("frame-error").hidden = true; request(); });
// The tools menu: a tool chosen closes it, as a menu does (on a phone it covers the image), and
// so does a touch anywhere else.
function openTools(on) { $("tools").classList.toggle("open", on); $("more").setAttribute("aria-expanded", on); }
$("more").addEventListener("click", () => openTools(!$("tools").classList.contains("open")));
$("tools").addEventListener("click", (e) => { if (e.target.closest("button")) openTools(false); });
$("speed").addEventListener("change", () => openTools(false));
document.addEventListener("pointerdown", (e) => { if (!e.target.closest("#tools, #more")) openTools(false); });
// A button clicked with a mouse or a finger gives its focus back: the keys then act on the
// image, not on the last button (Space would press Invert again). Tab still reaches buttons.
document.addEventListener("click", (e) => { const b = e.target.closest && e.target.closest("button"); if (b && e.detail > 0) b.blur(); });
// The tools sit in the header's one row when they fit there, and a menu otherwise: the image
// keeps the height. A phone on its side has them in the side column's menu (CSS).
// A mouse on a screen of some height may have two rows of tools; a touch screen, one.
function chooseLayout() {
  const body = document.body, header = document.querySelector("header");
  body.classList.add("inline-tools");
  const middles = [...header.querySelectorAll("button, select")].filter((b) => b.getClientRects().length)
    .map((b) => { const r = b.getBoundingClientRect(); return (r.top + r.bottom) / 2; }).sort((a, b) => a - b);
  const rows = middles.filter((m, i) => i === 0 || m - middles[i - 1] > 8).length, allowed = matchMedia("(pointer: coarse)").matches || innerHeight < 500 ? 1 : 2;
  const fits = !matchMedia("(max-height: 500px) and (orientation: landscape)").matches && rows <= allowed;
  body.classList.toggle("inline-tools", fits);
  if (fits) openTools(false);
}
// Full screen where the browser offers it; a WebView that does not gets no button.
$("fullscreen").hidden = !document.fullscreenEnabled;
$("fullscreen").addEventListener("click", () => {
  if (document.fullscreenElement) document.exitFullscreen(); else $("app").requestFullscreen().catch(() => {});
});
document.addEventListener("fullscreenchange", () => { $("fullscreen").setAttribute("aria-pressed", !!document.fullscreenElement); });

