//! framegate: signed URLs in, DICOM frames out as JPEG, read lazily from a folder or S3.
//!
//! A request flows through these modules, in order; layers point down, and no core module
//! (`token`, `key`, `store`, `dicom`, `render`, `reformat`, `deid`) imports `http` or this root:
//! - [`http`]: parses the route, verifies the token with [`token`] before any storage access,
//!   then runs the operation (raw bytes, a frame, a reformatted plane, info.json, DICOMweb's
//!   QIDO-RS and WADO-RS under `http/dicomweb`) and maps every error to a status. Each route is a
//!   shell over a core that returns data: a rendered frame (`frame::frame`), a plane
//!   (`reformat::reformat`), an object as the policy hands it out
//!   (`raw::dicom_object`), a prefix's listing (`stack::listing`); DICOMweb calls the same cores.
//! - [`key`]: object keys, validated segment by segment; nothing can name a path outside a store.
//! - [`store`]: the [`store::Store`] trait (size and version, ranged reads, streams, writes
//!   that are whole or nothing), the local folder and S3 stores, a wrapper that feeds
//!   [`metrics`], and one that trusts an object's version for `--revalidate-after`.
//! - [`dicom`]: a header prefix to an [`dicom::Index`] of frame byte ranges (with verbs: read
//!   frame n, the held header, the native Pixel Data range), or, for an object without Pixel
//!   Data, its whole data set ([`dicom::Indexed`]), and one frame's bytes to pixels
//!   (dicom-rs underneath), read into [`render`]'s picture model; `dicom::dataset` is the one
//!   reader of a data set's bytes, which gives UN elements their dictionary VR and decodes text
//!   by its character sets (`dicom::charset`, as pydicom does); `dicom::native` puts decoded
//!   frames in the form their metadata states; `dicom::burned_in` is the one rule for
//!   whether pixels may show identifying text, asked by ingest and by info.json and stack.json.
//! - [`render`]: a leaf; it owns the picture model (`render::model`: rescale, LUTs, palette,
//!   overlays) and turns pixels into an 8-bit picture, pure and synchronous; [`encode`] turns it
//!   into JPEG.
//! - [`pool`]: bounded CPU work within a memory budget; [`cache`]: moka caches keyed by object
//!   version.
//! - [`reformat`]: coronal, sagittal and oblique planes through a series of parallel, evenly
//!   spaced slices, from their samples; pure, windowed by [`render`] like any frame.
//! - [`catalog`]: the stored study catalog (one GET gives a study's indexes), its format, its
//!   writer and its check against a listing; an input to the index, never trusted over it.
//! - [`stack`]: the ordered frames of a folder or multi-frame object, grouped into series, for viewers.
//! - [`deid`]: de-identified DICOM headers (PS3.15 Annex E, with three of its options) for the
//!   raw route, DICOMweb and ingest, and JPEG and PNG images without their metadata;
//!   `deid::Policy` is the one answer to every privacy question a route asks.
//! - [`ingest`]: studies in (files, folders, ZIP archives, S3 prefixes; the upload route),
//!   de-identified objects out into a store, on the dicom, deid and store layers.
//! - [`server`]: the accept loop, connection limits (a client that stops reading is cut) and
//!   graceful shutdown, entered through [`run`]; `/metrics` alone through `server::run_metrics`.
//! - [`logs`]: log lines gathered in memory and written in batches by one thread; [`audit`]:
//!   the access log, a JSON line per request that presented a token, on the same writer.
//! - [`sniff`] tells a file's kind by its first bytes, for the raw route and ingest;
//!   [`coding`] chooses an answer's content coding by `Accept-Encoding` and compresses it;
//!   [`transcode`] makes a frame's samples an HTJ2K codestream for clients that ask for one.
//! - [`config`] is the only reader of flags and environment, and resolves them (keys, stores,
//!   S3 timeouts, ingest sources and destination) reporting every bad value at once; [`sample`]
//!   makes demo and test data;
//!   `fuzzing` holds the fuzz harnesses, shared by `fuzz/` and the regression tests.
//! - `turbo` (the `turbo` feature) binds libjpeg-turbo, the one module allowed `unsafe`.

#![deny(unsafe_code)]

pub mod audit;
pub mod cache;
pub mod coding;
pub mod catalog;
pub mod config;
pub mod deid;
pub mod dicom;
pub mod encode;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod ingest;
pub mod key;
pub mod logs;
pub mod metrics;
pub mod pool;
pub mod reformat;
pub mod render;
pub mod sample;
pub mod server;
pub mod sniff;
pub mod stack;
pub mod store;
pub mod token;
pub mod transcode;
#[cfg(feature = "turbo")]
#[allow(unsafe_code)]
pub mod turbo;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use deid::RawDicom;
pub use server::ServerSettings;

/// Everything a running server shares between requests.
pub struct State {
    /// Keys that verify tokens.
    pub keys: token::Keyring,
    /// Where objects are read from (metered).
    pub store: Arc<dyn store::Store>,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// Index and frame caches.
    pub caches: cache::Caches,
    /// CPU work.
    pub pool: pool::RenderPool,
    /// Bounds on what a file may make us read or allocate.
    pub limits: dicom::Limits,
    /// Longest `max-age` ever sent, in seconds.
    pub max_age: u64,
    /// Connection settings.
    pub server: ServerSettings,
    /// Cross-origin access.
    pub cors: http::Cors,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: http::TrustedProxies,
    /// What leaves of a DICOM object, and under which pseudonyms: every route asks it.
    pub policy: deid::Policy,
    /// Longest `s-maxage` ever sent, in seconds.
    pub shared_max_age: u64,
    /// The viewer's CSP `frame-ancestors` sources, space-separated.
    pub frame_ancestors: String,
    /// DICOMweb's instance, catalog and answer caches.
    pub dicomweb: http::DicomWebCaches,
    /// Uploads being received, and their bounds.
    pub uploads: http::Uploads,
    /// The access log, when one is kept.
    pub audit: Option<audit::Auditor>,
}

/// Tunables of a server, with defaults that suit a small machine.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Cache sizes.
    pub cache: cache::CacheSizes,
    /// Frames rendered at once.
    pub render_threads: usize,
    /// Frames waiting to render before the server answers 503.
    pub render_queue: usize,
    /// Bytes that frames being rendered (and objects being inflated) may hold together.
    pub render_memory: u64,
    /// How long an object's version is trusted without asking the store again.
    pub revalidate_after: std::time::Duration,
    /// File limits.
    pub limits: dicom::Limits,
    /// Longest `max-age`, in seconds.
    pub max_age: u64,
    /// Connection settings.
    pub server: ServerSettings,
    /// Origins allowed to read responses; empty turns CORS off.
    pub cors_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: http::TrustedProxies,
    /// What the raw route does with DICOM objects.
    pub raw_dicom: RawDicom,
    /// Secret for UID pseudonyms; derived from the first signing key when absent.
    pub pseudonym_key: Option<Vec<u8>>,
    /// Whose pseudonyms de-identified answers carry: the server's, or each token scope's own.
    pub pseudonym_scope: deid::PseudonymScope,
    /// Longest `s-maxage`, in seconds: how long a shared cache may serve an object after it
    /// was deleted or replaced.
    pub shared_max_age: u64,
    /// Who may embed the viewer: CSP `frame-ancestors` sources (`'self'`, an origin).
    pub frame_ancestors: Vec<String>,
    /// The upload route's bounds and de-identification.
    pub upload: http::UploadSettings,
    /// Where access lines go (`--audit-log`); none by default.
    pub audit: Option<audit::AuditLog>,
}

impl Default for Settings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Settings {
            // Half the render memory: kept volumes hold it.
            cache: cache::CacheSizes { frame_bytes: 512 << 20, index_bytes: 64 << 20, volume_bytes: 1 << 30 },
            render_threads: cores,
            render_queue: cores * 16,
            render_memory: 2 << 30,
            revalidate_after: std::time::Duration::from_secs(30),
            limits: dicom::Limits::default(),
            max_age: 86_400,
            server: ServerSettings::default(),
            cors_origins: Vec::new(),
            trusted_proxies: http::TrustedProxies::default(),
            raw_dicom: RawDicom::default(),
            pseudonym_key: None,
            pseudonym_scope: deid::PseudonymScope::default(),
            shared_max_age: 300,
            frame_ancestors: vec!["'self'".to_owned()],
            upload: http::UploadSettings::default(),
            audit: None,
        }
    }
}

impl State {
    /// A server's state over `store`, trusting `keys`.
    pub fn new(keys: token::Keyring, store: Arc<dyn store::Store>, settings: Settings) -> Self {
        let metrics = Arc::new(metrics::Metrics::default());
        let pseudonym_key = settings.pseudonym_key.unwrap_or_else(|| keys.derive(PSEUDONYM_CONTEXT));
        // An inflated object lives in its index: one that the index cache could not keep would
        // be inflated again on every request.
        let policy = deid::Policy::new(settings.raw_dicom, settings.pseudonym_scope, deid::Pseudonyms::new(pseudonym_key));
        let limits = dicom::Limits { max_inflated_bytes: settings.limits.max_inflated_bytes.min(settings.cache.index_bytes / 2), ..settings.limits };
        State {
            keys,
            store: Arc::new(store::revalidate::Revalidating::new(Arc::new(store::metered::Metered::new(store, metrics.clone())), settings.revalidate_after)),
            metrics,
            caches: cache::Caches::new(settings.cache),
            pool: pool::RenderPool::new(settings.render_threads, settings.render_queue, settings.render_memory),
            limits,
            max_age: settings.max_age,
            server: settings.server,
            cors: http::Cors::new(settings.cors_origins),
            trusted_proxies: settings.trusted_proxies,
            shared_max_age: settings.shared_max_age,
            frame_ancestors: settings.frame_ancestors.join(" "),
            dicomweb: http::DicomWebCaches::new(settings.cache.index_bytes),
            uploads: http::Uploads::new(settings.upload),
            audit: settings.audit.map(|log| audit::Auditor::new(log, policy.pseudonyms().clone())),
            policy,
        }
    }
}

/// What the pseudonym secret is derived from the first signing key with, when none is given:
/// `serve` and `ingest` must agree on it.
pub const PSEUDONYM_CONTEXT: &[u8] = b"fg1-pseudonyms";

/// Serves HTTP on `listener` until `shutdown` resolves; shared by main, tests and benches.
pub async fn run(listener: TcpListener, state: Arc<State>, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    server::run(listener, state, shutdown).await
}
