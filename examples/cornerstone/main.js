// Opens a series of a framegate DICOMweb root in a Cornerstone3D stack viewport: QIDO-RS finds
// the series, WADO-RS metadata describes every instance, and each frame is a `wadors:` image ID
// that dicom-image-loader fetches as stored (multipart/related, transfer-syntax=*) and decodes.
// `window.framegate` reports progress for tests: { ready, images, index, error }.
import { RenderingEngine, Enums, eventTarget, getShouldUseCPURendering, init as coreInit } from '@cornerstonejs/core';
import { init as loaderInit, wadors } from '@cornerstonejs/dicom-image-loader';

const status = document.getElementById('status');
const report = (patch) => {
  window.framegate = { ...window.framegate, ...patch };
  const s = window.framegate;
  status.textContent = s.error ? `error: ${s.error}` : s.ready ? `image ${s.index + 1} of ${s.images}` : 'loading…';
};
report({ ready: false, images: 0, index: 0, error: null });

const describe = (e) => String((e && (e.message || e.error?.message || e.error)) || e);
window.addEventListener('error', (e) => report({ error: describe(e) }));
window.addEventListener('unhandledrejection', (e) => report({ error: describe(e.reason) }));
eventTarget.addEventListener(Enums.Events.IMAGE_LOAD_FAILED, (e) => report({ error: `image load failed: ${describe(e.detail)}` }));

const first = (attrs, tag) => attrs[tag]?.Value?.[0];

async function json(url) {
  const response = await fetch(url, { headers: { Accept: 'application/dicom+json' } });
  if (!response.ok) throw new Error(`${response.status} from ${url.replace(/\/v1\/[^/]+/, '/v1/…')}`);
  return response.json();
}

// Distance along the slice normal (row × column of Image Orientation), for head-to-feet order.
function position(attrs) {
  const p = attrs['00200032']?.Value, o = attrs['00200037']?.Value;
  if (!p || !o) return null;
  const n = [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]];
  return p[0] * n[0] + p[1] * n[1] + p[2] * n[2];
}

async function main() {
  const params = new URLSearchParams(location.search);
  const root = params.get('root');
  if (!root) throw new Error('add ?root=<signed DICOMweb root> to the address');
  let seriesUid = params.get('series');
  let studyUid;
  const found = await json(`${root}/series${seriesUid ? `?SeriesInstanceUID=${seriesUid}` : ''}`);
  if (!found.length) throw new Error('no series under this root');
  studyUid = first(found[0], '0020000D');
  seriesUid = first(found[0], '0020000E');
  // Before any metadata is added: the loader's init empties its metadata store.
  await coreInit();
  loaderInit({ maxWebWorkers: 1 });
  const instances = await json(`${root}/studies/${studyUid}/series/${seriesUid}/metadata`);
  const base = `wadors:${root}/studies/${studyUid}/series/${seriesUid}/instances`;
  const ordered = instances
    .map((attrs) => ({ attrs, at: position(attrs), number: first(attrs, '00200013') ?? 0 }))
    .sort((a, b) => (a.at !== null && b.at !== null ? b.at - a.at : a.number - b.number));
  const imageIds = [];
  for (const { attrs } of ordered) {
    const frames = Number(first(attrs, '00280008') ?? 1);
    for (let n = 1; n <= frames; n++) {
      const imageId = `${base}/${first(attrs, '00080018')}/frames/${n}`;
      wadors.metaDataManager.add(imageId, attrs);
      imageIds.push(imageId);
    }
  }

  const engine = new RenderingEngine('framegate');
  const element = document.getElementById('viewport');
  engine.enableElement({ viewportId: 'stack', type: Enums.ViewportType.STACK, element });
  const viewport = engine.getViewport('stack');
  await viewport.setStack(imageIds, 0);
  viewport.render();
  report({ ready: true, images: imageIds.length, index: 0, cpu: getShouldUseCPURendering() });

  const show = async (index) => {
    const next = Math.max(0, Math.min(imageIds.length - 1, index));
    await viewport.setImageIdIndex(next);
    report({ index: next });
  };
  element.addEventListener('wheel', (e) => { e.preventDefault(); show(viewport.getCurrentImageIdIndex() + Math.sign(e.deltaY)); }, { passive: false });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowRight') show(viewport.getCurrentImageIdIndex() + 1);
    if (e.key === 'ArrowUp' || e.key === 'ArrowLeft') show(viewport.getCurrentImageIdIndex() - 1);
  });
  window.framegateShow = show;
}

main().catch((e) => report({ error: String(e && e.message || e) }));
