"use strict";
// framegate's built-in viewer: one page, no build step. It loads stack.json next to itself and
// shows one frame at a time on a canvas. What is drawn and what the labels say always come from
// the same frame: a wanted frame that is still on its way shows as "loading", never as a label
// over an older picture. Failures belong to their frame.
const MAX_RETRIES = 6;
// The read-ahead (load.js): at rest READ_AHEAD frames ahead and READ_BEHIND behind; scrolling,
// as many ahead as the measured rate passes in LOOKAHEAD_MS (at most MAX_AHEAD), in the
// direction of travel, and READ_BEHIND_MOVING behind.
const READ_AHEAD = 10, READ_BEHIND = 4, READ_BEHIND_MOVING = 2, LOOKAHEAD_MS = 750, MAX_AHEAD = 48, MOTION_IDLE_MS = 400;
// Chromium opens 6 connections to a host over HTTP/1.1, and requests beyond them wait inside
// the browser, where they can be neither reordered nor cheaply cancelled. The viewer keeps at
// most MAX_PARALLEL of its own on the wire; the wanted frame takes the place of the farthest
// when all are busy, and the background fill takes at most FILL_PARALLEL, only when the
// read-ahead waits for nothing, and leaves one connection free.
const MAX_PARALLEL = 6, FILL_PARALLEL = 2;
// The memory budget. Compressed frames, the JPEG or PNG bytes as the server sent them, are kept
// up to FILL_BUDGET bytes: a 200-slice 512² CT is about 5 MB of them, so a series of a thousand
// such slices fits. Decoded bitmaps (4 bytes a pixel) are kept near the viewport only, up to
// DECODED_BUDGET bytes and MAX_DECODED frames.
const FILL_BUDGET = 48 << 20, DECODED_BUDGET = 64 << 20, MAX_DECODED = 160;
const VIEWPORT_STEPS = [0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875];
const CT_PRESETS = [["brain", 40, 80], ["lung", -600, 1500], ["bone", 400, 1800], ["abdomen", 40, 400]];
const $ = (id) => document.getElementById(id);
const canvas = $("canvas"), ctx2d = canvas.getContext("2d"), stage = $("stage");

const STRINGS = {
  en: { keyImage: "Save image", hintTap: "tap", hintTapDoes: "hide or show the controls", hintOk: "Touch the image to start",
    line: "Line", angle: "Angle", rect: "Rectangle", ellipse: "Ellipse", probe: "Value", undo: "Undo", redo: "Redo", listbtn: "Measurements",
    thirdPoint: "tap the third point", mean: "mean", min: "min", max: "max", noMeasures: "No measurements yet.", sliceShort: "Slice", delete: "Delete",
    reset: "Reset", tools: "Tools", measure: "Measure", invert: "Invert", rotate: "Rotate", flip: "Flip", fit: "Fit",
    native: "1:1", fullscreen: "Full screen", lossless: "Lossless", loop: "Bounce", keys: "Keys", close: "Close", retry: "Retry",
    play: "Play", pause: "Pause", swipeSlices: "Swipe: slices", swipeWl: "Swipe: W/L", defaultWindow: "Default window", custom: "Custom window",
    brain: "Brain", lung: "Lung", bone: "Bone", abdomen: "Abdomen", native_speed: "Native speed", fps: "fps",
    loading: "Loading image {0} of {1}…", loadingSeries: "Loading…", buffering: "Buffering {0}%", slice: "Slice {0} of {1}",
    expired: "This link has expired. Ask for a new link to keep viewing.", forbidden: "This link does not give access to these images.",
    notFound: "These images were not found.", failed: "The images could not be loaded ({0}).",
    frameFailed: "Image {0} cannot be shown: {1}. Scroll on to the next one.", busy: "the server is busy",
    network: "the network failed", missing: "it is missing", gap: "Gap: {0} missing before this image",
    wlHint: "Drag on the image to change window/level", burned: "Burned-in annotation", thk: "Thk {0} mm", pos: "Pos {0} mm", zoomLabel: "Zoom {0}%",
    image: "{0} image, slice {1} of {2}", series: "Series", axial: "Axial", coronal: "Coronal", sagittal: "Sagittal", oblique: "Oblique {0}°", help: "Help", gestures: "Touch", deleteLine: "Delete",
    offline: "Image {0} is not loaded: you are offline. It will load when the connection returns.",
    unreachable: "Image {0} is not loaded: the connection failed. It will load when the connection works again." },
  de: { keyImage: "Bild speichern", hintTap: "Tippen", hintTapDoes: "Bedienelemente aus- oder einblenden", hintOk: "Bild berühren, um zu beginnen",
    line: "Linie", angle: "Winkel", rect: "Rechteck", ellipse: "Ellipse", probe: "Wert", undo: "Rückgängig", redo: "Wiederholen", listbtn: "Messungen",
    thirdPoint: "dritten Punkt tippen", mean: "Mittel", min: "min", max: "max", noMeasures: "Noch keine Messungen.", sliceShort: "Schicht", delete: "Löschen",
    reset: "Zurücksetzen", tools: "Werkzeuge", measure: "Messen", invert: "Invertieren", rotate: "Drehen", flip: "Spiegeln", fit: "Einpassen",
    native: "1:1", fullscreen: "Vollbild", lossless: "Verlustfrei", loop: "Pendeln", keys: "Tasten", close: "Schließen", retry: "Erneut",
    play: "Abspielen", pause: "Pause", swipeSlices: "Wischen: Schichten", swipeWl: "Wischen: Fenster", defaultWindow: "Standardfenster", custom: "Eigenes Fenster",
    brain: "Hirn", lung: "Lunge", bone: "Knochen", abdomen: "Abdomen", native_speed: "Originaltempo", fps: "B/s",
    loading: "Lade Bild {0} von {1}…", loadingSeries: "Lade…", buffering: "Puffern {0}%", slice: "Schicht {0} von {1}",
    expired: "Dieser Link ist abgelaufen. Bitten Sie um einen neuen Link.", forbidden: "Dieser Link gibt keinen Zugriff auf diese Bilder.",
    notFound: "Diese Bilder wurden nicht gefunden.", failed: "Die Bilder konnten nicht geladen werden ({0}).",
    frameFailed: "Bild {0} kann nicht angezeigt werden: {1}. Blättern Sie weiter.", busy: "der Server ist ausgelastet",
    network: "das Netzwerk ist ausgefallen", missing: "es fehlt", gap: "Lücke: {0} fehlen vor diesem Bild",
    wlHint: "Ziehen Sie auf dem Bild, um Fenster/Level zu ändern", burned: "Eingebrannte Beschriftung", thk: "SD {0} mm", pos: "Pos {0} mm", zoomLabel: "Zoom {0}%",
    image: "{0}-Bild, Schicht {1} von {2}", series: "Serie", axial: "Axial", coronal: "Koronar", sagittal: "Sagittal", oblique: "Schräg {0}°", help: "Hilfe", gestures: "Berührung", deleteLine: "Löschen",
    offline: "Bild {0} ist nicht geladen: keine Verbindung. Es lädt, sobald die Verbindung zurück ist.",
    unreachable: "Bild {0} ist nicht geladen: die Verbindung ist gestört. Es lädt, sobald sie wieder geht." },
  fr: { keyImage: "Enregistrer l'image", hintTap: "toucher", hintTapDoes: "masquer ou afficher les commandes", hintOk: "Touchez l'image pour commencer",
    line: "Ligne", angle: "Angle", rect: "Rectangle", ellipse: "Ellipse", probe: "Valeur", undo: "Annuler", redo: "Rétablir", listbtn: "Mesures",
    thirdPoint: "touchez le troisième point", mean: "moy.", min: "min", max: "max", noMeasures: "Aucune mesure.", sliceShort: "Coupe", delete: "Supprimer",
    reset: "Réinitialiser", tools: "Outils", measure: "Mesurer", invert: "Inverser", rotate: "Pivoter", flip: "Miroir", fit: "Ajuster",
    native: "1:1", fullscreen: "Plein écran", lossless: "Sans perte", loop: "Aller-retour", keys: "Touches", close: "Fermer", retry: "Réessayer",
    play: "Lecture", pause: "Pause", swipeSlices: "Glisser : coupes", swipeWl: "Glisser : fenêtre", defaultWindow: "Fenêtre par défaut", custom: "Fenêtre libre",
    brain: "Cerveau", lung: "Poumon", bone: "Os", abdomen: "Abdomen", native_speed: "Vitesse d'origine", fps: "i/s",
    loading: "Chargement de l'image {0} sur {1}…", loadingSeries: "Chargement…", buffering: "Mise en mémoire {0} %", slice: "Coupe {0} sur {1}",
    expired: "Ce lien a expiré. Demandez un nouveau lien pour continuer.", forbidden: "Ce lien ne donne pas accès à ces images.",
    notFound: "Ces images sont introuvables.", failed: "Les images n'ont pas pu être chargées ({0}).",
    frameFailed: "L'image {0} ne peut pas être affichée : {1}. Passez à la suivante.", busy: "le serveur est occupé",
    network: "le réseau a échoué", missing: "elle est absente", gap: "Lacune : {0} manquantes avant cette image",
    wlHint: "Glissez sur l'image pour changer la fenêtre", burned: "Annotation incrustée", thk: "Ép {0} mm", pos: "Pos {0} mm", zoomLabel: "Zoom {0} %",
    image: "Image {0}, coupe {1} sur {2}", series: "Série", axial: "Axial", coronal: "Coronal", sagittal: "Sagittal", oblique: "Oblique {0}°", help: "Aide", gestures: "Tactile", deleteLine: "Supprimer",
    offline: "L'image {0} n'est pas chargée : hors ligne. Elle se chargera au retour de la connexion.",
    unreachable: "L'image {0} n'est pas chargée : la connexion a échoué. Elle se chargera quand elle refonctionnera." },
};

// Embedding options, from the query or the fragment: slice, series, window, controls, lang, origin.
const options = new URLSearchParams(location.search + "&" + location.hash.slice(1));
const lang = STRINGS[options.get("lang")] ? options.get("lang") : "en";
const T = STRINGS[lang];
const t = (key, ...args) => (T[key] || STRINGS.en[key] || key).replace(/\{(\d)\}/g, (_, i) => args[i]);
const targetOrigin = options.get("origin") || "*";

// Everything the page knows, also read by the browser tests.
const fg = window.fg = {
  stack: null, series: 0, first: 0, count: 0,
  index: 0,                // the wanted frame, within the series
  shownIndex: null,        // the frame on screen (labels describe this one)
  shown: null,             // URL of the frame on screen
  frameError: null,        // {status, text} of the wanted frame when it failed
  zoom: 1, panX: 0, panY: 0, rotation: 0, flip: false, invert: false,
  window: null,            // {center, width} chosen by the user, or null for the server default
  preview: false,          // a local approximation of `window` is on screen, the exact render pending
  wlMode: false, measuring: false, playing: false,
  measures: [],            // {kind, series, index, a, b, c}: annotations in image pixels, each on its slice
  selected: null,          // the annotation last drawn or touched, which Delete removes
  loupe: null,             // {x, y}: where a finger drags an end point, magnified beside it
  buffering: false, bounce: false, fps: 0,
  error: null,             // what stopped the whole viewer (410, 403...)
  lossless: false,         // PNG frames: the rendered pixels exactly, at a few times the bytes
  requested: [],           // every frame URL fetched, in order
  retries: 0,              // 503s and network failures retried
  dragging: false,         // the slider is held: only the latest wanted frame is fetched
  gaps: {},                // index -> missing slices before it
  plane: null,             // the reformat on screen (its name), or null for the series' own slices
  planeIndex: {},          // plane name -> the image last shown in it: where its reference line lies
  refLines: [],            // {name, index, a, b}: the other planes' lines drawn, in image pixels
  scaleBar: null, markers: null, events: [],
  shownAt: {},             // index -> when (performance.now()) the frame was first on screen, this series
  fillStarted: false,      // the first image is on screen: the rest of the series may come
  loads: {                 // what loading did and holds, this series
    fetched: 0, fill: 0, aborted: 0,          // requests made, of them the fill's, and cancelled
    held: 0, bytes: 0, peakBytes: 0, budget: FILL_BUDGET,                   // compressed frames
    decoded: 0, decodedBytes: 0, peakDecodedBytes: 0, decodedBudget: DECODED_BUDGET, // bitmaps
  },
};
const cache = new Map();   // url -> {bitmap, window, index, bytes} | {promise, index} | {error, index}: decoded frames
let queue = [], displayed = null;   // queue: the read-ahead's {index, url, decode} waiting; displayed: {bitmap, window, entry}

function post(type, data = {}) {
  const message = { source: "framegate", type, ...data };
  fg.events.push(message);
  if (window.parent !== window) window.parent.postMessage(message, targetOrigin);
}

