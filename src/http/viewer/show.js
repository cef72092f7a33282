// --- Showing a frame ---------------------------------------------------------------------
let foreground = null;     // the URL of the wanted frame being fetched, at most one
let restTimer = null;      // once a scroll rests: the frames it passed too fast near where it stopped
function request() {
  if (!fg.stack || fg.error) return;
  const url = frameUrl(fg.index), index = fg.index, item = cache.get(url);
  if (item && item.bitmap) display(index, url, item);
  else if (item && item.error) displayError(index, item.error);
  else if (!item && !blobs.has(url) && !net.has(url) && tooLate(index)) {
    // Passed before an answer could come: asked for only if the scroll rests here (restTimer).
    setLoading(true);
  } else if (!foreground || !fg.dragging) {
    foreground = url;
    setLoading(true);
    load(index, url, (p) => { if (foreground === url) $("progress").value = p; }, "want").then(() => {
      if (frameUrl(fg.index) === url) display(fg.index, url, cache.get(url));
    }).catch((e) => {
      if (e.name !== "AbortError" && frameUrl(fg.index) === url) displayError(fg.index, e);
    }).finally(() => {
      if (foreground === url) foreground = null;
      // Dragging went on while this frame came: now fetch where the slider is.
      if (frameUrl(fg.index) !== fg.shown && !fg.frameError) request();
    });
  }
  prefetch();
}

function display(index, url, item) {
  const changed = fg.shownIndex !== index;
  displayed = { bitmap: item.bitmap, window: item.window, entry: entry(index) };
  fg.shownIndex = index; fg.shown = url; fg.frameError = null; fg.preview = false; previewSource = null;
  if (!(index in fg.shownAt)) fg.shownAt[index] = performance.now();
  // The first image is on screen: now the rest of the series may come, behind the read-ahead.
  if (!fg.fillStarted) { fg.fillStarted = true; setTimeout(pump); }
  $("frame-error").hidden = true;
  setLoading(false);
  draw(); overlay();
  if (changed) { announce(); report(index); }
}

// The embedding page hears "loaded" once, before any "slice"; `series` is always the series'
// number from 1, as in the `series=` option and the "series" message.
let loadedSent = false;
function report(index, error) {
  const where = { slice: index + 1, frames: fg.count, series: fg.series + 1, seriesCount: fg.stack.series.length };
  if (!loadedSent) { loadedSent = true; post("loaded", where); }
  post("slice", error === undefined ? where : { ...where, error });
}

function displayError(index, e) {
  displayed = null;
  fg.shownIndex = index; fg.shown = null; fg.frameError = { status: e.status, text: e.text || e.message };
  setLoading(false);
  const why = e.status !== 0 ? t("frameFailed", index + 1, fg.frameError.text) : navigator.onLine ? t("unreachable", index + 1) : t("offline", index + 1);
  $("frame-error-text").textContent = why;
  // Online but unreachable, no "online" event will come: the image on screen tries again itself.
  clearTimeout(healTimer);
  if (e.status === 0 && navigator.onLine) healTimer = setTimeout(healNetwork, 10000);
  $("retry").hidden = e.status !== 0 && e.status !== 503;
  $("frame-error").hidden = false;
  draw(); overlay(); announce();
  report(index, e.status);
}

function setLoading(on) {
  fg.loading = on;
  $("loading").hidden = !on || (fg.buffering && !!displayed);
  if (on) {
    $("progress").value = 0;
    $("loading-text").textContent = t("loading", fg.index + 1, fg.count);
  }
}

function go(i) {
  if (!fg.stack || fg.error) return;
  const next = Math.max(0, Math.min(fg.count - 1, i));
  $("slider").value = next + 1;
  if (next === fg.index && (fg.shown || fg.frameError)) return;
  noteStep(fg.index, next);
  fg.index = next;
  request();
  // When the next step is overdue the scroll rests, and what was too late to ask for is not.
  clearTimeout(restTimer);
  if (motion.rate > 0) restTimer = setTimeout(() => { if (!fg.error && !fg.dragging) request(); }, Math.max(50, 2500 / motion.rate) + 1);
}

