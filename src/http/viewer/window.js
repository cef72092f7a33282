// --- Window / level ----------------------------------------------------------------------
function currentWindow() {
  if (fg.window) return fg.window;
  const e = displayed ? displayed.entry : entry(fg.index);
  return e.window || { center: 128, width: 256 };
}
function setWindow(center, width, exact = true) {
  if (!windowable()) return;
  fg.window = { center, width: Math.max(1, width) };
  const preset = CT_PRESETS.find(([, c, w]) => c === center && w === width);
  $("preset").value = preset ? `${center},${width}` : "custom";
  if (exact) { fg.preview = false; request(); }
  else if (displayed) { fg.preview = true; draw(); }
  overlay();
}
function defaultWindow() { fg.window = null; fg.preview = false; $("preset").value = ""; request(); overlay(); }

function buildPresets() {
  const sel = $("preset");
  sel.textContent = "";
  const add = (value, label, hidden) => { const o = new Option(label, value); o.hidden = !!hidden; sel.add(o); };
  add("", t("defaultWindow"));
  // The key that chooses a preset is named only where there is a keyboard to press it.
  const keys = matchMedia("(any-pointer: fine)").matches;
  if (series().modality === "CT") CT_PRESETS.forEach(([name, c, w], k) => add(`${c},${w}`, `${t(name)} ${c}/${w}${keys ? ` (${k + 1})` : ""}`));
  add("custom", t("custom"), true);
  sel.hidden = !windowable();
  sel.value = "";
}
$("preset").addEventListener("change", (e) => {
  const v = e.target.value;
  // Chosen: the keys go back to the image (↓, 1–4), not to the list.
  e.target.blur();
  if (!v) defaultWindow();
  else if (v !== "custom") { const [c, w] = v.split(",").map(Number); setWindow(c, w); }
});
function presetKey(k) {
  if (!windowable()) return;
  if (k === 0) { defaultWindow(); return; }
  const p = series().modality === "CT" && CT_PRESETS[k - 1];
  if (p) setWindow(p[1], p[2]);
}

