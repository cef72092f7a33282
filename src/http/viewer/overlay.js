// --- Overlays and announcements ------------------------------------------------------------
function overlay() {
  if (!fg.stack) return;
  const s = series(), i = fg.shownIndex, e = i === null ? null : entry(i);
  $("counter").textContent = i === null ? `– / ${fg.count}` : `${i + 1} / ${fg.count}`;
  $("position").textContent = e && e.position != null ? t("pos", e.position.toFixed(1)) : "";
  // A reformat is one voxel thick, not the slices' thickness; its plane is named instead.
  $("thickness").textContent = plane() ? planeLabel(fg.plane) : s.slice_thickness ? t("thk", +s.slice_thickness.toFixed(2)) : "";
  const win = fg.window || (e && e.window);
  $("wl").textContent = windowable() && win ? `W ${Math.round(win.width)} L ${Math.round(win.center)}` : "";
  $("zoom").textContent = e ? t("zoomLabel", Math.round(drawScale(e) * (window.devicePixelRatio || 1) * 100)) : "";
  $("gap").textContent = i !== null && fg.gaps[i] ? t("gap", fg.gaps[i]) : "";
  const here = linesHere(), line = here.includes(fg.selected) ? fg.selected : here[here.length - 1];
  $("length").textContent = line ? labelLines(line).join("\n") : "";
  $("delete").hidden = !here.includes(fg.selected);
  // Which series this is, when there are several: its number and folder; and its description
  // where the server's privacy policy lets it out (stack.json carries it only then).
  $("series-label").textContent = [fg.stack.series.length > 1 ? seriesName(s, fg.series) : "", s.description].filter(Boolean).join(" · ");
  stage.setAttribute("aria-label", i === null ? t("loadingSeries") : t("image", s.modality || "", i + 1, fg.count));
}
let announceTimer = null;
function announce() {
  clearTimeout(announceTimer);
  // Announced once scrolling rests, not for every frame passed.
  announceTimer = setTimeout(() => { if (fg.shownIndex !== null) $("live").textContent = t("slice", fg.shownIndex + 1, fg.count); }, 300);
}

function fail(status) {
  if (fg.error) return;
  fg.error = status;
  $("message").textContent = status === 410 ? t("expired") : status === 403 ? t("forbidden") : status === 404 ? t("notFound") : t("failed", status);
  $("message").classList.add("shown");
  setLoading(false);
  stop();
  post(status === 410 ? "expired" : status === 403 ? "forbidden" : "error", { status });
}

