//! In-memory caches of indexes and rendered frames, bounded in bytes and keyed by object
//! version, never by token: two viewers of one study share every entry.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use moka::future::Cache;
use sha2::{Digest, Sha256};

use crate::dicom::{Index, Indexed, LoadError};
use crate::key::ObjectKey;
use crate::pool::Held;
use crate::reformat::Volume;
use crate::render::{RenderParams, VoiFunction};
use crate::store::ObjectMeta;

/// One version of one object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectId {
    /// The key.
    pub key: ObjectKey,
    /// Its version.
    pub meta: ObjectMeta,
}

/// What an object is, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// DICOM Part 10 (`DICM` after the preamble).
    Dicom,
    /// JPEG or PNG.
    Image,
    /// Anything else.
    Other,
}

/// A de-identified representation: a new header held here, then the original Pixel Data.
#[derive(Debug)]
pub struct Deidentified {
    /// Preamble, meta group and de-identified data set up to Pixel Data.
    pub header: Bytes,
    /// The original Pixel Data element (header included) in the stored object.
    pub pixel: std::ops::Range<u64>,
    /// The ranges of frames inside it whose streams can carry text (JPEG, JPEG-LS, JPEG 2000),
    /// blanked on the way out; empty for every other transfer syntax.
    pub marked_frames: Vec<std::ops::Range<u64>>,
    /// A deflated object's Pixel Data element, inflated (its header, then its value), sent from
    /// memory in place of `pixel`, which is then `0..` its length.
    pub held_pixel: Option<(Bytes, Bytes)>,
}

/// Output formats of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Baseline JPEG.
    Jpeg,
    /// 8-bit PNG: the rendered pixels exactly.
    Png,
}

impl Format {
    /// The MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
        }
    }
}

/// Everything that changes a rendered frame's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FrameKey {
    /// The object version.
    pub object: ObjectId,
    /// Frame number, from 1.
    pub frame: u32,
    /// Window centre and width as bit patterns (f64 is not `Eq`), and the function.
    pub window: Option<(u64, u64, VoiFunction)>,
    /// Viewport box.
    pub viewport: Option<(u32, u32)>,
    /// Overlay planes drawn.
    pub overlays: bool,
    /// JPEG quality, when the request named one: no quality means the stored JPEG may be sent
    /// as it is, which no named quality does.
    pub quality: Option<u8>,
    /// Output format.
    pub format: Format,
}

/// Everything that changes a rendered reformat's bytes: the plane, and a frame's key whose
/// object is the series' prefix at the digest of every version listed under it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlaneKey {
    /// The plane's URL name (`coronal`, `oblique-30`).
    pub plane: String,
    /// The series as an object, the image number, window, viewport, quality and format.
    pub frame: FrameKey,
}

impl PlaneKey {
    /// The key of image `number` of `plane` through the series under `prefix` at `version`.
    pub fn new(prefix: ObjectKey, version: String, plane: String, number: u32, params: &RenderParams, quality: Option<u8>, format: Format) -> Self {
        let series = ObjectId { key: prefix, meta: ObjectMeta { size: 0, etag: version } };
        PlaneKey { plane, frame: FrameKey::new(series, number, params, quality, format) }
    }

    /// A strong ETag, as [`FrameKey::etag`]: stable across processes, and new whenever any
    /// object under the prefix changes.
    pub fn etag(&self) -> String {
        let f = &self.frame;
        let params = format!("{}|{}|{:?}|{:?}|{:?}|{:?}", self.plane, f.frame, f.window, f.viewport, f.quality, f.format);
        let digest = digest(&[f.object.key.as_str().as_bytes(), f.object.meta.etag.as_bytes(), params.as_bytes()]);
        format!("\"r{}\"", &digest[..32])
    }
}

/// What the rendered cache holds: frames of objects, and planes reformatted from series.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum RenderKey {
    Frame(FrameKey),
    Plane(PlaneKey),
}

impl RenderKey {
    fn weight(&self) -> usize {
        match self {
            RenderKey::Frame(k) => k.object.key.as_str().len(),
            RenderKey::Plane(k) => k.frame.object.key.as_str().len() + k.frame.object.meta.etag.len() + k.plane.len(),
        }
    }
}

/// A series' decoded samples, holding their part of the render pool's memory budget for as
/// long as the cache keeps them.
#[derive(Debug)]
pub struct HeldVolume {
    /// The samples.
    pub volume: Volume,
    /// The budget they hold, given back when the cache lets the volume go.
    pub _memory: Held,
}

/// A frame as the cache holds it.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The encoded picture.
    pub body: Bytes,
    /// The body is the stored JPEG itself, not a transcoding of it.
    pub passthrough: bool,
}

impl FrameKey {
    /// The key of frame `frame` of `object` rendered with `params`.
    pub fn new(object: ObjectId, frame: u32, params: &RenderParams, quality: Option<u8>, format: Format) -> Self {
        // +0.0 and -0.0 render alike, so they share an entry.
        let bits = |v: f64| (v + 0.0).to_bits();
        let window = params.window.map(|w| (bits(w.center), bits(w.width), w.function));
        // PNG has no quality: every quality names the same picture.
        let quality = quality.filter(|_| format == Format::Jpeg);
        FrameKey { object, frame, window, viewport: params.viewport, overlays: params.overlays, quality, format }
    }

    /// A strong ETag: a digest of the key, stable across processes, so every framegate behind
    /// a load balancer answers `If-None-Match` alike.
    pub fn etag(&self) -> String {
        let mut params = format!("{}|{:?}|{:?}|{:?}|{:?}", self.frame, self.window, self.viewport, self.quality, self.format);
        // Appended only when drawn, so that the ETags of frames without overlays stay what
        // browsers and shared caches already hold.
        if self.overlays {
            params.push_str("|overlays");
        }
        let digest = digest(&[self.object.key.as_str().as_bytes(), self.object.meta.etag.as_bytes(), params.as_bytes()]);
        format!("\"f{}\"", &digest[..32])
    }
}

/// Hex SHA-256 of `parts`, each length-prefixed so that no two lists collide.
pub fn digest(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

fn object_weight(object: &ObjectId) -> u32 {
    u32::try_from(object.key.as_str().len() + object.meta.etag.len() + 64).unwrap_or(u32::MAX)
}

/// Sizes of the caches.
#[derive(Debug, Clone, Copy)]
pub struct CacheSizes {
    /// Bytes of rendered frames.
    pub frame_bytes: u64,
    /// Approximate bytes of indexes.
    pub index_bytes: u64,
    /// Bytes of decoded series kept for reformats; they count against the render memory
    /// budget too, so this is at most what that budget can spare.
    pub volume_bytes: u64,
}

/// The caches one server holds.
#[derive(Clone)]
pub struct Caches {
    /// Each object version indexed: an image's frames, or a header-only object's data set.
    indexes: Cache<ObjectId, Indexed>,
    frames: Cache<RenderKey, Rendered>,
    /// Decoded series for reformats, by prefix and listing digest.
    volumes: Cache<(ObjectKey, String), Arc<HeldVolume>>,
    /// Width and height of JPEG and PNG stack images (`None`: not an image we can size).
    image_sizes: Cache<ObjectId, Option<(u32, u32)>>,
    /// What each object is, for the raw route's policy.
    kinds: Cache<ObjectId, Kind>,
    /// De-identified headers, by object version and the policy's fingerprint.
    deidentified: Cache<(ObjectId, String), Arc<Deidentified>>,
    /// stack.json bodies, by prefix and the versions of everything listed under it: costly to
    /// build for a large series, and the same until an object changes.
    stacks: Cache<String, Bytes>,
    /// Study catalog versions already taken into `indexes`: one is read again only once it
    /// changes, so a warm study costs no catalog read.
    catalogs: Cache<ObjectId, ()>,
    /// Where a listing of each study catalog version's objects may be cut (its every 1,000th
    /// key), so that the listings of a study large enough to take several pages are read as
    /// ranges at once, its catalog read once per version.
    catalog_cuts: Cache<ObjectId, Arc<Vec<ObjectKey>>>,
}

impl Caches {
    /// Empty caches bounded by `sizes`.
    pub fn new(sizes: CacheSizes) -> Self {
        Caches {
            indexes: Cache::builder().max_capacity(sizes.index_bytes).weigher(|_, index: &Indexed| index.weight()).build(),
            frames: Cache::builder().max_capacity(sizes.frame_bytes).weigher(|k: &RenderKey, v: &Rendered| u32::try_from(v.body.len() + k.weight() + 128).unwrap_or(u32::MAX)).build(),
            volumes: Cache::builder()
                .max_capacity(sizes.volume_bytes)
                .weigher(|k: &(ObjectKey, String), v: &Arc<HeldVolume>| u32::try_from(v.volume.bytes() + k.1.len() as u64).unwrap_or(u32::MAX))
                .build(),
            image_sizes: Cache::builder().max_capacity(sizes.index_bytes).weigher(|k: &ObjectId, _| object_weight(k)).build(),
            kinds: Cache::builder().max_capacity(sizes.index_bytes).weigher(|k: &ObjectId, _| object_weight(k)).build(),
            deidentified: Cache::builder()
                .max_capacity(sizes.index_bytes)
                .weigher(|k: &(ObjectId, String), d: &Arc<Deidentified>| {
                    // The held Pixel Data is shared with the index, but counted here too: a bound
                    // that errs high.
                    let held = d.held_pixel.as_ref().map_or(0, |(head, value)| head.len() + value.len());
                    object_weight(&k.0).saturating_add(u32::try_from(d.header.len() + held + k.1.len()).unwrap_or(u32::MAX))
                })
                .build(),
            stacks: Cache::builder().max_capacity(sizes.index_bytes).weigher(|k: &String, body: &Bytes| u32::try_from(k.len() + body.len()).unwrap_or(u32::MAX)).build(),
            catalogs: Cache::builder().max_capacity(sizes.index_bytes / 64).weigher(|k: &ObjectId, _| object_weight(k)).build(),
            catalog_cuts: Cache::builder()
                .max_capacity(sizes.index_bytes / 64)
                .weigher(|k: &ObjectId, cuts: &Arc<Vec<ObjectKey>>| {
                    object_weight(k).saturating_add(u32::try_from(cuts.iter().map(|c| c.as_str().len() + 32).sum::<usize>()).unwrap_or(u32::MAX))
                })
                .build(),
        }
    }

    /// The index of `object`, loading it once however many requests ask at the same time.
    pub async fn index<F>(&self, object: &ObjectId, load: F) -> Result<Indexed, Arc<LoadError>>
    where
        F: Future<Output = Result<Indexed, LoadError>>,
    {
        self.indexes.try_get_with_by_ref(object, load).await
    }

    /// Whether the index of `object` is held.
    pub fn has_index(&self, object: &ObjectId) -> bool {
        self.indexes.contains_key(object)
    }

    /// Holds `index` as the index of `object` (built from a study catalog), unless one is held.
    pub async fn offer_index(&self, object: ObjectId, index: Arc<Index>) {
        self.indexes.entry(object).or_insert(Indexed::Image(index)).await;
    }

    /// Runs `take` (which reads the catalog version `catalog` into the indexes) once per
    /// version however many requests ask at the same time; later asks wait for it, or return.
    pub async fn take_catalog<F: Future<Output = ()>>(&self, catalog: &ObjectId, take: F) {
        self.catalogs.get_with_by_ref(catalog, take).await;
    }

    /// The cuts of the catalog version `catalog`, if known.
    pub async fn catalog_cuts(&self, catalog: &ObjectId) -> Option<Arc<Vec<ObjectKey>>> {
        self.catalog_cuts.get(catalog).await
    }

    /// Keeps `cuts` as where a listing of the catalog version `catalog`'s objects may be cut.
    pub async fn keep_catalog_cuts(&self, catalog: ObjectId, cuts: Arc<Vec<ObjectKey>>) {
        self.catalog_cuts.insert(catalog, cuts).await;
    }

    /// A rendered frame, rendering it once however many requests ask at the same time.
    pub async fn frame<F, E>(&self, key: FrameKey, render: F) -> Result<Rendered, Arc<E>>
    where
        F: Future<Output = Result<Rendered, E>>,
        E: Send + Sync + 'static,
    {
        self.frames.try_get_with(RenderKey::Frame(key), render).await
    }

    /// A rendered reformat, rendered once however many requests ask at the same time.
    pub async fn plane<F, E>(&self, key: PlaneKey, render: F) -> Result<Rendered, Arc<E>>
    where
        F: Future<Output = Result<Rendered, E>>,
        E: Send + Sync + 'static,
    {
        self.frames.try_get_with(RenderKey::Plane(key), render).await
    }

    /// A series' decoded volume, decoded once however many requests ask at the same time.
    pub async fn volume<F, E>(&self, prefix: &ObjectKey, version: &str, build: F) -> Result<Arc<HeldVolume>, Arc<E>>
    where
        F: Future<Output = Result<HeldVolume, E>>,
        E: Send + Sync + 'static,
    {
        self.volumes.try_get_with((prefix.clone(), version.to_owned()), async { build.await.map(Arc::new) }).await
    }

    /// The size of a stack image, read once per version.
    pub async fn image_size<F, E>(&self, object: &ObjectId, read: F) -> Result<Option<(u32, u32)>, Arc<E>>
    where
        F: Future<Output = Result<Option<(u32, u32)>, E>>,
        E: Send + Sync + 'static,
    {
        self.image_sizes.try_get_with_by_ref(object, read).await
    }

    /// What an object is, sniffed once per version.
    pub async fn kind<F, E>(&self, object: &ObjectId, sniff: F) -> Result<Kind, Arc<E>>
    where
        F: Future<Output = Result<Kind, E>>,
        E: Send + Sync + 'static,
    {
        self.kinds.try_get_with_by_ref(object, sniff).await
    }

    /// The de-identified header of an object version under the policy `fingerprint` names,
    /// built once.
    pub async fn deidentified<F, E>(&self, object: &ObjectId, fingerprint: &str, build: F) -> Result<Arc<Deidentified>, Arc<E>>
    where
        F: Future<Output = Result<Deidentified, E>>,
        E: Send + Sync + 'static,
    {
        self.deidentified.try_get_with((object.clone(), fingerprint.to_owned()), async { build.await.map(Arc::new) }).await
    }

    /// The stack.json body for `key` (prefix and listed versions), built once.
    pub async fn stack<F, E>(&self, key: String, build: F) -> Result<Bytes, Arc<E>>
    where
        F: Future<Output = Result<Bytes, E>>,
        E: Send + Sync + 'static,
    {
        self.stacks.try_get_with(key, build).await
    }

    /// Forgets an object's index, after the store said it changed.
    pub async fn forget(&self, object: &ObjectId) {
        self.indexes.invalidate(object).await;
    }
}
