// --- Loading -----------------------------------------------------------------------------
// A frame travels as the server's compressed bytes (a Blob, held in `blobs` within FILL_BUDGET)
// and becomes a bitmap (in `cache`, within DECODED_BUDGET) only near the viewport. Requests come
// in three kinds, served in this order: "want" (the frame to show), "ahead" (the read-ahead,
// which leans into the scroll's direction and grows with its speed) and "fill" (the rest of the
// series, fetched in the background once the first image is on screen).
const net = new Map();     // url -> {promise, abort, kind, index, from}: requests on the wire
const blobs = new Map();   // url -> {blob, index}: compressed frames held
let busyUntil = 0;         // a busy server's Retry-After holds the fill back until then
let fetchMs = 0;           // how long a frame request of the read-ahead takes, smoothed

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const timer = setTimeout(resolve, ms);
  signal.addEventListener("abort", () => { clearTimeout(timer); reject(new DOMException("aborted", "AbortError")); }, { once: true });
});
const backoff = (attempt) => Math.min(8000, 400 * 2 ** attempt) * (0.75 + Math.random() / 2);
class FrameError extends Error { constructor(status, text) { super(text); this.status = status; this.text = text; } }

async function readBody(response, progress) {
  const total = Number(response.headers.get("content-length")) || 0;
  if (!progress || !total || !response.body) return response.blob();
  const reader = response.body.getReader(), parts = [];
  let got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value); got += value.length; progress(got / total);
  }
  return new Blob(parts, { type: response.headers.get("content-type") || "" });
}

// A busy server (503, 502, 504) and a failed network are retried with backoff, a 503 no sooner
// than its Retry-After; any other answer is the caller's to judge.
async function fetchRetrying(url, signal, priority = "auto") {
  for (let attempt = 0; ; attempt++) {
    let r;
    try { r = await fetch(url, { signal, credentials: "omit", priority }); }
    catch (e) {
      if (signal.aborted) throw e;
      // Offline, retrying now only keeps "Loading" up for nothing: the frame fails at once and
      // is fetched again when the connection returns (healNetwork).
      if (attempt >= MAX_RETRIES || !navigator.onLine) throw new FrameError(0, t("network"));
      fg.retries++; await sleep(backoff(attempt), signal); continue;
    }
    if ([502, 503, 504].includes(r.status) && attempt < MAX_RETRIES) {
      const after = Number(r.headers.get("retry-after")) * 1000 || 0, wait = Math.max(after, backoff(attempt));
      // The whole background fill waits too: more requests now would only meet more 503s.
      busyUntil = Math.max(busyUntil, performance.now() + wait);
      fg.retries++; await sleep(wait, signal); continue;
    }
    return r;
  }
}

// One frame's bytes; a failure is that frame's, with the server's reason.
async function fetchBytes(url, signal, priority, progress) {
  const r = await fetchRetrying(url, signal, priority);
  if (!r.ok) {
    let text = "";
    try { text = (await r.json()).error || ""; } catch { /* not JSON: the status says enough */ }
    throw new FrameError(r.status, r.status === 503 ? t("busy") : r.status === 404 ? t("missing") : text || String(r.status));
  }
  return readBody(r, progress);
}

const RANK = { want: 0, ahead: 1, fill: 2 };
// The compressed bytes of frame `index` at `url`: held, on their way (a request already made
// is raised to `kind` if that ranks higher), or asked for now as `kind`.
function bytesOf(url, index, kind, progress) {
  const held = blobs.get(url);
  if (held) return Promise.resolve(held.blob);
  const going = net.get(url);
  if (going) { if (RANK[kind] < RANK[going.kind]) going.kind = kind; return going.promise; }
  if (kind === "want") makeRoom();
  const r = { abort: new AbortController(), kind, index, from: fg.index, promise: null }, t0 = performance.now();
  fg.requested.push(url);
  fg.loads.fetched++;
  if (kind === "fill") fg.loads.fill++;
  r.promise = fetchBytes(url, r.abort.signal, kind === "want" ? "high" : kind === "fill" ? "low" : "auto", progress)
    .then((blob) => {
      const ms = performance.now() - t0;
      if (r.kind !== "fill") fetchMs = fetchMs ? 0.8 * fetchMs + 0.2 * ms : ms;
      hold(url, index, blob); setTimeout(healNetwork); return blob;
    })
    .finally(() => { if (net.get(url) === r) net.delete(url); pump(); });
  net.set(url, r);
  return r.promise;
}

function cancel(url, r) {
  net.delete(url);
  r.abort.abort();
  fg.loads.aborted++;
}

// The wanted frame never waits behind the background: with every connection taken, the fill
// request farthest from the viewport gives its place, or else the farthest read-ahead.
function makeRoom() {
  if (net.size < MAX_PARALLEL) return;
  let worst = null;
  for (const [url, r] of net) {
    if (r.kind === "want") continue;
    const cost = RANK[r.kind] * 1e6 + Math.abs(r.index - fg.index);
    if (!worst || cost > worst.cost) worst = { url, r, cost };
  }
  if (worst) cancel(worst.url, worst.r);
}

function hold(url, index, blob) {
  const old = blobs.get(url);
  if (old) fg.loads.bytes -= old.blob.size;
  blobs.set(url, { blob, index });
  fg.loads.bytes += blob.size;
  fg.loads.held = blobs.size;
  if (fg.loads.bytes > FILL_BUDGET) evictBytes(FILL_BUDGET, false);
  fg.loads.peakBytes = Math.max(fg.loads.peakBytes, fg.loads.bytes);
}

// Compressed frames beyond `limit` bytes go, those of another window or size first, then the
// farthest from the viewport; with `staleOnly`, only the former.
function evictBytes(limit, staleOnly) {
  const far = (url, b) => (frameUrl(b.index) !== url ? Infinity : Math.abs(b.index - fg.index));
  const victims = [...blobs].map(([url, b]) => [url, b, far(url, b)]).filter(([, , d]) => !staleOnly || d === Infinity).sort((a, b) => b[2] - a[2]);
  for (const [url, b, d] of victims) {
    if (fg.loads.bytes <= limit || (d <= READ_BEHIND && d !== Infinity)) break;
    blobs.delete(url);
    fg.loads.bytes -= b.blob.size;
  }
  fg.loads.held = blobs.size;
}

// Frame `index` at `url` as a bitmap, from its bytes held or fetched as `kind`.
function load(index, url, progress, kind = "ahead") {
  const item = cache.get(url);
  if (item) return item.promise || (item.error ? Promise.reject(item.error) : Promise.resolve(item.bitmap));
  const win = fg.window;
  const promise = bytesOf(url, index, kind, progress)
    .then((blob) => createImageBitmap(blob))
    .then((bitmap) => { cache.set(url, { bitmap, window: win, index, bytes: 4 * bitmap.width * bitmap.height }); evict(); return bitmap; })
    .catch((e) => {
      if (e.name === "AbortError") cache.delete(url);
      else if (e.status === 410 || e.status === 403) { cache.delete(url); fail(e.status); }
      else cache.set(url, { error: e, index });
      throw e;
    });
  cache.set(url, { promise, index });
  return promise;
}

// Frames that failed for the network are fetched again once it works: when the browser says it
// is back online, or when another request has just succeeded. Nobody has to press Retry on each.
function healNetwork() {
  let any = false;
  for (const [url, item] of cache) if (item.error && item.error.status === 0) { cache.delete(url); any = true; }
  for (const [url, status] of unfillable) if (status === 0) { unfillable.delete(url); any = true; }
  if (!any || !fg.stack || fg.error) return;
  if (fg.frameError && fg.frameError.status === 0) { fg.frameError = null; $("frame-error").hidden = true; }
  request();
}
window.addEventListener("online", healNetwork);
let healTimer = null;

// Bitmaps are kept near the viewport, within DECODED_BUDGET and MAX_DECODED, the farthest going
// first. The displayed bitmap is never closed, whatever eviction does: zoom and resize redraw it.
function evict() {
  let bytes = 0;
  for (const item of cache.values()) if (item.bitmap) bytes += item.bytes;
  if (bytes > DECODED_BUDGET || cache.size > MAX_DECODED) {
    const near = neighbourhood();
    const keep = new Set([fg.index, ...near.slice(0, decodeCount())].map(frameUrl));
    const far = (url, item) => (frameUrl(item.index) !== url ? Infinity : Math.abs(item.index - fg.index));
    const victims = [...cache].filter(([url, item]) => !keep.has(url) && !item.promise).map(([url, item]) => [url, item, far(url, item)]).sort((a, b) => b[2] - a[2]);
    for (const [url, item] of victims) {
      if (bytes <= DECODED_BUDGET && cache.size <= MAX_DECODED) break;
      if (item.bitmap) { bytes -= item.bytes; if (!displayed || item.bitmap !== displayed.bitmap) item.bitmap.close(); }
      cache.delete(url);
    }
  }
  let n = 0;
  for (const item of cache.values()) if (item.bitmap) n++;
  Object.assign(fg.loads, { decoded: n, decodedBytes: bytes, peakDecodedBytes: Math.max(fg.loads.peakDecodedBytes, bytes) });
}

// How many frames near the viewport may be decoded at once: as many as DECODED_BUDGET holds at
// the size now fetched (a frame of unknown size counts as 1024²).
function decodeCount() {
  const e = entry(fg.index), k = isDicom(e) ? scaleStep(e) : 1;
  const pixels = Math.max(1, (e.columns || 1024) * k) * Math.max(1, (e.rows || 1024) * k);
  return Math.max(2, Math.floor(DECODED_BUDGET / (4 * pixels)) - 1);
}

// Another series: what was on its way or held for this one goes.
function forgetSeries() {
  for (const r of net.values()) r.abort.abort();
  net.clear(); blobs.clear(); unfillable.clear(); cache.clear();
  queue = []; displayed = null; foreground = null;
  fg.fillStarted = false; fg.shownAt = {};
  Object.assign(fg.loads, { fetched: 0, fill: 0, aborted: 0, held: 0, bytes: 0, peakBytes: 0, decoded: 0, decodedBytes: 0, peakDecodedBytes: 0 });
}
