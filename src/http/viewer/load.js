// --- Loading -----------------------------------------------------------------------------
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
async function fetchRetrying(url, signal) {
  for (let attempt = 0; ; attempt++) {
    let r;
    try { r = await fetch(url, { signal, credentials: "omit" }); }
    catch (e) {
      if (signal.aborted) throw e;
      // Offline, retrying now only keeps "Loading" up for nothing: the frame fails at once and
      // is fetched again when the connection returns (healNetwork).
      if (attempt >= MAX_RETRIES || !navigator.onLine) throw new FrameError(0, t("network"));
      fg.retries++; await sleep(backoff(attempt), signal); continue;
    }
    if ([502, 503, 504].includes(r.status) && attempt < MAX_RETRIES) {
      const after = Number(r.headers.get("retry-after")) * 1000 || 0;
      fg.retries++; await sleep(Math.max(after, backoff(attempt)), signal); continue;
    }
    return r;
  }
}

// One frame; a failure is that frame's, with the server's reason.
async function fetchFrame(url, signal, progress) {
  const r = await fetchRetrying(url, signal);
  if (!r.ok) {
    let text = "";
    try { text = (await r.json()).error || ""; } catch { /* not JSON: the status says enough */ }
    throw new FrameError(r.status, r.status === 503 ? t("busy") : r.status === 404 ? t("missing") : text || String(r.status));
  }
  return createImageBitmap(await readBody(r, progress));
}

function load(url, progress) {
  const item = cache.get(url);
  if (item) return item.promise || (item.error ? Promise.reject(item.error) : Promise.resolve(item.bitmap));
  const abort = new AbortController();
  fg.requested.push(url);
  inFlight++;
  const win = fg.window;
  const promise = fetchFrame(url, abort.signal, progress)
    .then((bitmap) => { cache.set(url, { bitmap, window: win }); evict(); setTimeout(healNetwork); return bitmap; })
    .catch((e) => {
      if (e.name === "AbortError") cache.delete(url);
      else if (e.status === 410 || e.status === 403) { cache.delete(url); fail(e.status); }
      else cache.set(url, { error: e });
      throw e;
    })
    .finally(() => { inFlight--; pump(); });
  cache.set(url, { promise, abort });
  return promise;
}

// Frames that failed for the network are fetched again once it works: when the browser says it
// is back online, or when another request has just succeeded. Nobody has to press Retry on each.
function healNetwork() {
  let any = false;
  for (const [url, item] of cache) if (item.error && item.error.status === 0) { cache.delete(url); any = true; }
  if (!any || !fg.stack || fg.error) return;
  if (fg.frameError && fg.frameError.status === 0) { fg.frameError = null; $("frame-error").hidden = true; }
  request();
}
window.addEventListener("online", healNetwork);
let healTimer = null;

// The displayed bitmap is never closed, whatever eviction does: zoom and resize redraw it.
function evict() {
  if (cache.size <= MAX_CACHED) return;
  const keep = new Set([fg.index, ...neighbourhood()].map(frameUrl));
  for (const [url, item] of cache) {
    if (cache.size <= MAX_CACHED) break;
    if (keep.has(url) || item.promise) continue;
    if (item.bitmap && (!displayed || item.bitmap !== displayed.bitmap)) item.bitmap.close();
    cache.delete(url);
  }
}

function neighbourhood() {
  const n = fg.count, out = [];
  const ahead = fg.playing ? Math.max(PREFETCH_AHEAD, Math.round(cineFps() * 2)) : PREFETCH_AHEAD;
  const dir = fg.playing && fg.bounce ? cineDir : 1;
  for (let d = 1; d <= ahead; d++) { const i = fg.index + d * dir; if (i >= 0 && i < n) out.push(i); else if (fg.playing && !fg.bounce) out.push((i + n) % n); }
  if (!fg.playing) for (let d = 1; d <= PREFETCH_BEHIND; d++) if (fg.index - d >= 0) out.push(fg.index - d);
  return [...new Set(out)].filter((i) => i !== fg.index);
}

// Prefetch keeps the neighbourhood queued and cancels what scrolled away. While the slider is
// held nothing is prefetched: the frames it passes over are not worth a request.
function prefetch() {
  const keep = new Set([frameUrl(fg.index), foreground]);
  const wanted = fg.dragging ? [] : neighbourhood().map(frameUrl);
  wanted.forEach((u) => keep.add(u));
  for (const [url, item] of cache) if (item.abort && !keep.has(url)) { item.abort.abort(); cache.delete(url); }
  queue = wanted.filter((url) => !cache.has(url));
  pump();
}
function pump() {
  while (inFlight < MAX_PARALLEL && queue.length && !fg.error) load(queue.shift()).catch(() => {});
}

