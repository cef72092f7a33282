// --- Read-ahead --------------------------------------------------------------------------
// The frames around the one shown, leaning into the scroll: which to have, which are too late
// to ask for, and which requests the scroll left behind.
// The scroll's direction and speed, from the steps `go` takes: the read-ahead leans into it.
const motion = { dir: 1, rate: 0, at: -Infinity, jump: false };
function noteStep(from, to) {
  const now = performance.now(), step = to - from, dt = now - motion.at;
  if (!step) return;
  const dir = Math.sign(step), turned = dir !== motion.dir;
  motion.dir = dir;
  motion.jump = Math.abs(step) > READ_AHEAD;
  // A jump (the slider, the track, a host's "go") is no scroll, and a turn starts a new one.
  if (Math.abs(step) > READ_AHEAD || turned || dt > MOTION_IDLE_MS) motion.rate = 0;
  else {
    const rate = Math.min(240, (Math.abs(step) * 1000) / Math.max(dt, 1));
    motion.rate = motion.rate ? 0.7 * motion.rate + 0.3 * rate : rate;
  }
  motion.at = now;
}
const scrolling = () => motion.rate > 0 && performance.now() - motion.at < MOTION_IDLE_MS;
// A step that was no jump, within the idle time: a scroll's first step already counts, before it
// has a rate.
const stepping = () => !motion.jump && performance.now() - motion.at < MOTION_IDLE_MS;

// Scrolling faster than requests come back, the frames the scroll passes before an answer could
// arrive are not asked for: the answer would come too late to be shown, and take a connection
// from a frame the scroll can still meet. The scroll counts as going on until a step is
// overdue; the frame it rests on, and the series' last in the direction of travel, are never
// too late.
function tooLate(index) {
  if (!(motion.rate > 0) || performance.now() - motion.at > Math.max(50, 2500 / motion.rate)) return false;
  const d = (index - fg.index) * motion.dir, left = motion.dir > 0 ? fg.count - 1 - fg.index : fg.index;
  return d >= 0 && d < left && d < (motion.rate * fetchMs) / 1000;
}

// The frames to have ready, nearest first: ahead in the direction of travel, then behind.
function neighbourhood() {
  const n = fg.count, out = [];
  if (fg.playing) {
    const ahead = Math.max(READ_AHEAD, Math.round(cineFps() * 2)), dir = fg.bounce ? cineDir : 1;
    for (let d = 1; d <= ahead; d++) { const i = fg.index + d * dir; if (i >= 0 && i < n) out.push(i); else if (!fg.bounce) out.push((i + n) % n); }
    return [...new Set(out)].filter((i) => i !== fg.index);
  }
  const moving = scrolling();
  const ahead = moving ? Math.min(MAX_AHEAD, Math.max(READ_AHEAD, Math.round((motion.rate * LOOKAHEAD_MS) / 1000))) : READ_AHEAD;
  const behind = moving ? READ_BEHIND_MOVING : READ_BEHIND;
  for (let d = 1; d <= ahead; d++) { const i = fg.index + d * motion.dir; if (i >= 0 && i < n) out.push(i); }
  for (let d = 1; d <= behind; d++) { const i = fg.index - d * motion.dir; if (i >= 0 && i < n) out.push(i); }
  return out;
}

// Prefetch keeps the neighbourhood queued and cancels what is no longer near: read-ahead the
// scroll left behind at once, fill work once the viewer moved away from it (a jump), to be
// fetched again when its turn comes. While the slider is held nothing is prefetched: the
// frames it passes over are not worth a request.
function prefetch() {
  const near = fg.dragging ? [] : neighbourhood();
  const decode = decodeCount();
  queue = near.map((index, k) => ({ index, url: frameUrl(index), decode: k < decode }));
  const keep = new Set([frameUrl(fg.index), foreground, ...queue.map((q) => q.url)]);
  for (const [url, r] of net) {
    if (keep.has(url)) continue;
    if (r.kind === "fill" && !fg.dragging && Math.abs(r.index - fg.index) <= Math.abs(r.index - r.from) + READ_AHEAD) continue;
    cancel(url, r);
  }
  pump();
}

// Starts what the read-ahead waits for, nearest first, then the fill. Decoding bytes already
// held takes no connection.
function pump() {
  if (fg.error || !fg.stack) return;
  queue = queue.filter(({ index, url, decode }) => {
    if (decode ? cache.has(url) : blobs.has(url) || net.has(url) || cache.has(url)) return false;
    const free = blobs.has(url) || net.has(url);
    if (!free && tooLate(index)) return false;
    if (!free && net.size >= MAX_PARALLEL) return true;
    if (decode) load(index, url).catch(() => {});
    else bytesOf(url, index, "ahead").catch(() => {});
    return false;
  });
  fill();
}

