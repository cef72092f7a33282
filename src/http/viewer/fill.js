// --- Background fill ---------------------------------------------------------------------
const unfillable = new Map();   // url -> status: the fill failed there; the read-ahead tries when it is near
let fillTimer = null;

// The rest of the series, once the first image is on screen: the nearest frame not held, ahead
// in the direction of travel counting as twice as near as behind. A person who asked the
// browser to save data gets the read-ahead only. While the person scrolls, the read-ahead,
// which leans into the scroll, has every connection: on a phone's network the fill's
// low-priority requests took connections from the frames the scroll was about to meet, and up
// to 12 of 200 slices were passed unshown. The fill resumes when the scroll rests.
function fill() {
  if (!fg.fillStarted || fg.dragging || queue.length || (navigator.connection && navigator.connection.saveData)) return;
  if (stepping()) { clearTimeout(fillTimer); fillTimer = setTimeout(pump, MOTION_IDLE_MS - (performance.now() - motion.at) + 1); return; }
  const wait = busyUntil - performance.now();
  if (wait > 0) { clearTimeout(fillTimer); fillTimer = setTimeout(pump, wait); return; }
  if (fg.loads.bytes > 0.9 * FILL_BUDGET) evictBytes(0.8 * FILL_BUDGET, true);
  let fills = 0;
  for (const r of net.values()) if (r.kind === "fill") fills++;
  while (fills < FILL_PARALLEL && net.size < MAX_PARALLEL - 1 && fg.loads.bytes <= 0.9 * FILL_BUDGET) {
    const index = nextFill();
    if (index === null) return;
    const url = frameUrl(index);
    bytesOf(url, index, "fill").catch((e) => {
      if (e.name === "AbortError") return;
      if (e.status === 410 || e.status === 403) fail(e.status);
      else unfillable.set(url, e.status);
    });
    fills++;
  }
}
function nextFill() {
  const n = fg.count, dir = motion.dir;
  for (let k = 1; k <= 2 * n; k++) {
    for (const i of k % 2 ? [fg.index + dir * k] : [fg.index + dir * k, fg.index - (dir * k) / 2]) {
      if (i < 0 || i >= n) continue;
      const url = frameUrl(i), item = cache.get(url);
      if (!blobs.has(url) && !net.has(url) && !unfillable.has(url) && !(item && (item.bitmap || item.error))) return i;
    }
  }
  return null;
}

