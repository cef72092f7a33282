// --- Cine --------------------------------------------------------------------------------
// Play shows each frame in turn only once it is loaded: on a slow link it waits (buffering)
// rather than let the counter run ahead of the picture.
let timer = null, cineDir = 1;
const cineFps = () => fg.fps || (fg.stack && series().frame_time ? 1000 / series().frame_time : 15);
function toggle() { fg.playing ? stop() : play(); }
function play() {
  if (!fg.stack || fg.error || fg.count < 2) return;
  fg.playing = true; $("play").setAttribute("aria-pressed", "true"); $("play").textContent = t("pause");
  fg.buffering = true; cineDir = 1;
  prefetch();
  timer = setInterval(tick, 1000 / cineFps());
  tick();
}
function nextCine() {
  let next = fg.index + cineDir;
  if (fg.bounce && (next >= fg.count || next < 0)) { cineDir = -cineDir; next = fg.index + cineDir; }
  return (next + fg.count) % fg.count;
}
function tick() {
  if (fg.buffering) {
    const ahead = neighbourhood().slice(0, Math.min(fg.count - 1, Math.max(5, Math.round(cineFps()))));
    const ready = ahead.filter((i) => { const c = cache.get(frameUrl(i)); return c && (c.bitmap || c.error); }).length;
    $("loading-text").textContent = t("buffering", Math.round((100 * ready) / ahead.length));
    $("loading").hidden = false;
    if (ready < ahead.length) return;
    fg.buffering = false; $("loading").hidden = true;
  }
  const next = nextCine(), item = cache.get(frameUrl(next));
  if (item && (item.bitmap || item.error)) go(next);
  else { fg.buffering = true; prefetch(); }
}
function stop() {
  fg.playing = false; fg.buffering = false; clearInterval(timer);
  if (fg.stack && !fg.loading) $("loading").hidden = true;
  $("play").setAttribute("aria-pressed", "false"); $("play").textContent = t("play");
}
$("play").addEventListener("click", toggle);
$("prev").addEventListener("click", () => { stop(); go(fg.index - 1); });
$("next").addEventListener("click", () => { stop(); go(fg.index + 1); });
$("loop").addEventListener("click", () => { fg.bounce = !fg.bounce; $("loop").setAttribute("aria-pressed", fg.bounce); });
function buildSpeeds() {
  const sel = $("speed");
  sel.textContent = "";
  sel.add(new Option(t("native_speed"), "0"));
  for (const f of [5, 10, 15, 20, 30, 60]) sel.add(new Option(`${f} ${t("fps")}`, String(f)));
  sel.value = String(fg.fps);
}
$("speed").addEventListener("change", (e) => { e.target.blur(); fg.fps = Number(e.target.value); if (fg.playing) { stop(); play(); } });

