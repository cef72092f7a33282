//! The command line and its `FRAMEGATE_*` environment variables: the only place either is read,
//! and where they become a server's keys, store and settings (`serve`) and an ingest's sources and
//! destination (`ingest`), each with every bad value reported at once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::cache::CacheSizes;
use crate::dicom::Limits;
use crate::store::s3::S3Options;
use crate::{RawDicom, ServerSettings, Settings};

mod catalog;
mod errors;
mod ingest;
mod serve;

pub use catalog::CatalogTarget;
pub use errors::ConfigErrors;
pub use ingest::{DestinationSpec, INGEST_S3_TIMEOUT, IngestPlan, SourceSpec};
pub use serve::{ServePlan, StoreSpec};

/// framegate: signed, lazy, frame-by-frame DICOM and JPEG-stack serving.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// How log lines are written: `text` for people, `json` for log shippers.
    #[arg(long, global = true, env = "FRAMEGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Which log lines are written, as a tracing filter (`info`, `warn`, `framegate=debug`).
    #[arg(long, global = true, env = "FRAMEGATE_LOG", default_value = "info")]
    pub log: String,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of `key=value` fields, coloured only on a terminal.
    Text,
    /// One JSON object a line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve objects from a folder over HTTP.
    Serve(ServeArgs),
    /// Print a token for an object key or key prefix.
    Sign(SignArgs),
    /// Print a new keys-file line with a random secret.
    Keygen,
    /// Print, as JSON, what the index knows of a DICOM file.
    Inspect {
        /// The DICOM file.
        file: PathBuf,
    },
    /// Write a sample data set, serve it with a throwaway key, and print signed URLs.
    Demo(DemoArgs),
    /// De-identify DICOM files, folders, ZIP archives, images or an S3 prefix into a folder or
    /// bucket, so that no patient data is stored.
    Ingest(IngestArgs),
    /// Write the study catalog of every study already under a folder or s3://bucket/prefix, so
    /// that `serve` opens each cold study with one read.
    Catalog(CatalogArgs),
}

/// `framegate catalog`.
#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// A folder, or s3://bucket/prefix, holding studies (as ingest writes them: study/series/object).
    pub target: String,
    #[command(flatten)]
    pub s3: S3Args,
    /// Studies catalogued at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Take share i of n (from 0), so that n processes split one large bucket.
    #[arg(long, value_parser = crate::ingest::Shard::parse)]
    pub shard: Option<crate::ingest::Shard>,
}

/// `framegate serve`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("store").required(true).args(["root", "s3_bucket"])))]
pub struct ServeArgs {
    /// Folder holding the objects.
    #[arg(long, env = "FRAMEGATE_ROOT")]
    pub root: Option<PathBuf>,
    #[command(flatten)]
    pub s3: S3Args,
    /// Keys file: one `KID:SECRET` per line; the first signs, all verify.
    #[arg(long, env = "FRAMEGATE_KEYS_FILE")]
    pub keys_file: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "FRAMEGATE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub tuning: Tuning,
}

/// The S3 store; credentials come from the standard AWS chain.
#[derive(Debug, Args)]
pub struct S3Args {
    /// Bucket holding the objects (instead of --root).
    #[arg(long, env = "FRAMEGATE_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// Key prefix inside the bucket.
    #[arg(long, env = "FRAMEGATE_S3_PREFIX", default_value = "")]
    pub s3_prefix: String,
    /// Endpoint of an S3-compatible store (MinIO, Ceph, R2).
    #[arg(long, env = "FRAMEGATE_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// Region [default: from the AWS chain].
    #[arg(long, env = "FRAMEGATE_S3_REGION")]
    pub s3_region: Option<String>,
    /// Address buckets by path, as most S3-compatible stores want.
    #[arg(long, env = "FRAMEGATE_S3_PATH_STYLE")]
    pub s3_path_style: bool,
    /// Seconds for one S3 request, retries included.
    #[arg(long, env = "FRAMEGATE_S3_TIMEOUT", default_value_t = 20)]
    pub s3_timeout: u64,
}

impl S3Args {
    /// The store options, when a bucket is named.
    pub fn options(&self) -> Option<S3Options> {
        Some(self.options_for(self.s3_bucket.as_ref()?, &self.s3_prefix))
    }

    /// Options for `bucket` and `prefix` (an `s3://` argument), with these flags' endpoint,
    /// region, addressing and timeout.
    pub fn options_for(&self, bucket: &str, prefix: &str) -> S3Options {
        let mut options = S3Options::new(bucket);
        options.prefix = prefix.to_owned();
        options.endpoint = self.s3_endpoint.clone();
        options.region = self.s3_region.clone();
        options.path_style = self.s3_path_style;
        options.timeout = Duration::from_secs(self.s3_timeout.max(1));
        options.attempt_timeout = options.attempt_timeout.min(options.timeout);
        options
    }
}

/// Tunables shared by `serve` and `demo`.
#[derive(Debug, Args)]
pub struct Tuning {
    /// Memory for rendered frames, in MiB.
    #[arg(long, env = "FRAMEGATE_CACHE_MB", default_value_t = 512)]
    pub cache_mb: u64,
    /// Longest Cache-Control max-age in seconds (never beyond a token's life).
    #[arg(long, env = "FRAMEGATE_MAX_AGE", default_value_t = 86_400)]
    pub max_age: u64,
    /// Frames rendered at once [default: number of cores].
    #[arg(long, env = "FRAMEGATE_RENDER_THREADS")]
    pub render_threads: Option<usize>,
    /// Frames waiting to render before the server answers 503 [default: 16 per thread].
    #[arg(long, env = "FRAMEGATE_RENDER_QUEUE")]
    pub render_queue: Option<usize>,
    /// Memory that frames being decoded and rendered (and deflated objects being inflated) may
    /// hold together, in MiB: a frame that needs more is refused (422), one that does not fit
    /// now is answered 503.
    #[arg(long, env = "FRAMEGATE_RENDER_MEMORY_MB", default_value_t = 2048)]
    pub render_memory_mb: u64,
    /// Seconds an object's version is trusted without asking the store again: within them a
    /// cached frame, info.json or stack.json costs no storage call; a replaced object is seen
    /// when they end, or at once when a read finds it changed. 0 asks every time.
    #[arg(long, env = "FRAMEGATE_REVALIDATE_AFTER", default_value_t = 30)]
    pub revalidate_after: u64,
    /// Largest DICOM header read to find Pixel Data, in MiB.
    #[arg(long, env = "FRAMEGATE_MAX_HEADER_MB", default_value_t = 16)]
    pub max_header_mb: u64,
    /// Largest rows × columns of one frame, in megapixels.
    #[arg(long, env = "FRAMEGATE_MAX_FRAME_MEGAPIXELS", default_value_t = 64)]
    pub max_frame_megapixels: u64,
    /// Open connections at most.
    #[arg(long, env = "FRAMEGATE_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Seconds in-flight requests get to finish on shutdown.
    #[arg(long, env = "FRAMEGATE_SHUTDOWN_GRACE", default_value_t = 10)]
    pub shutdown_grace: u64,
    /// Seconds a client may leave its answer unread before its connection is cut.
    #[arg(long, env = "FRAMEGATE_WRITE_TIMEOUT", default_value_t = 30)]
    pub write_timeout: u64,
    /// Requests answered on one connection before it is closed; caps pipelining too.
    #[arg(long, env = "FRAMEGATE_MAX_REQUESTS_PER_CONNECTION", default_value_t = 1000)]
    pub max_requests_per_connection: u32,
    /// Address for `/metrics` (and `/healthz`) alone; the main address then answers 404 there.
    #[arg(long, env = "FRAMEGATE_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Origin allowed to read responses cross-origin (repeat, or comma-separate); none by default.
    #[arg(long = "cors-origin", env = "FRAMEGATE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Proxy address or network whose X-Forwarded-For is believed (repeat, or comma-separate).
    #[arg(long = "trusted-proxy", env = "FRAMEGATE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// What the raw route hands out for DICOM objects.
    #[arg(long, env = "FRAMEGATE_RAW_DICOM", value_enum, default_value_t = RawDicom::Deidentify)]
    pub raw_dicom: RawDicom,
    /// Secret (base64url, 32 bytes or more) for UID pseudonyms [default: derived from the first key].
    #[arg(long, env = "FRAMEGATE_PSEUDONYM_KEY", hide_env_values = true)]
    pub pseudonym_key: Option<String>,
    /// Whose pseudonyms de-identified answers carry: one set for the server, or each token
    /// scope's own, so that recipients of different links cannot join their data by UID.
    #[arg(long, env = "FRAMEGATE_PSEUDONYM_SCOPE", value_enum, default_value_t = crate::deid::PseudonymScope::Server)]
    pub pseudonym_scope: crate::deid::PseudonymScope,
    /// Longest Cache-Control s-maxage in seconds: how long NGINX may serve an object after it was
    /// deleted or replaced (never beyond --max-age).
    #[arg(long, env = "FRAMEGATE_SHARED_MAX_AGE", default_value_t = 300)]
    pub shared_max_age: u64,
    /// Origin allowed to embed the viewer, or 'self' or 'none' (repeat, or comma-separate)
    /// [default: 'self' and the --cors-origin origins].
    #[arg(long = "frame-ancestors", env = "FRAMEGATE_FRAME_ANCESTORS", value_delimiter = ',')]
    pub frame_ancestors: Vec<String>,
    /// Largest body of the upload route, in MiB.
    #[arg(long, env = "FRAMEGATE_MAX_UPLOAD_MB", default_value_t = 2048)]
    pub max_upload_mb: u64,
    /// Uploads received at once; more are answered 503.
    #[arg(long, env = "FRAMEGATE_MAX_CONCURRENT_UPLOADS", default_value_t = 2)]
    pub max_concurrent_uploads: usize,
    /// The least an upload must average after its first 30 s, in KiB/s (0 turns it off): a
    /// slower one is cut with 408, so a trickling client cannot hold an upload slot.
    #[arg(long, env = "FRAMEGATE_MIN_UPLOAD_KIB_PER_S", default_value_t = 32)]
    pub min_upload_kib_per_s: u64,
    /// Largest total one uploaded ZIP archive may unpack to, in GiB.
    #[arg(long, env = "FRAMEGATE_MAX_UNPACKED_GB", default_value_t = 16)]
    pub max_unpacked_gb: u64,
    /// Where the access log goes: a file appended to, or `-` for stdout; none by default. One
    /// JSON line per request that presented a token (see SECURITY.md).
    #[arg(long, env = "FRAMEGATE_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,
    #[command(flatten)]
    pub deid: DeidArgs,
}

impl Tuning {
    /// The settings these flags describe, or everything that is wrong with them.
    pub fn settings(&self) -> Result<Settings, ConfigErrors> {
        let mut errors = ConfigErrors::default();
        // One proxy at a time, so that every bad one is named, not only the first.
        let bad_proxies = self.trusted_proxies.iter().filter(|p| errors.take(crate::http::TrustedProxies::parse(std::slice::from_ref(p))).is_none()).count();
        let trusted_proxies = if bad_proxies == 0 { errors.take(crate::http::TrustedProxies::parse(&self.trusted_proxies)) } else { None };
        let pseudonym_key = errors.take(self.pseudonym_key.as_deref().map(pseudonym_key).transpose());
        let frame_ancestors = frame_ancestors(&self.frame_ancestors, &self.cors_origins, &mut errors);
        errors.finish(|| Some(self.settings_from(trusted_proxies?, pseudonym_key?, frame_ancestors)))
    }

    fn settings_from(&self, trusted_proxies: crate::http::TrustedProxies, pseudonym_key: Option<Vec<u8>>, frame_ancestors: Vec<String>) -> Settings {
        let defaults = Settings::default();
        let threads = self.render_threads.unwrap_or(defaults.render_threads).max(1);
        Settings {
            // Kept volumes hold render memory: at most half of it, so renders always have the rest.
            cache: CacheSizes { frame_bytes: self.cache_mb << 20, index_bytes: (self.cache_mb << 20) / 8, volume_bytes: (self.render_memory_mb.max(1) << 20) / 2 },
            render_threads: threads,
            render_queue: self.render_queue.unwrap_or(threads * 16),
            render_memory: self.render_memory_mb.max(1) << 20,
            revalidate_after: Duration::from_secs(self.revalidate_after),
            limits: Limits { max_header_bytes: self.max_header_mb.max(1) << 20, max_frame_pixels: self.max_frame_megapixels.max(1) << 20, ..defaults.limits },
            max_age: self.max_age,
            server: ServerSettings {
                max_connections: self.max_connections.max(1),
                shutdown_grace: Duration::from_secs(self.shutdown_grace),
                write_timeout: Duration::from_secs(self.write_timeout.max(1)),
                max_requests_per_connection: self.max_requests_per_connection.max(1),
                metrics_elsewhere: self.metrics_listen.is_some(),
                ..defaults.server
            },
            cors_origins: self.cors_origins.clone(),
            trusted_proxies,
            raw_dicom: self.raw_dicom,
            pseudonym_key,
            pseudonym_scope: self.pseudonym_scope,
            // Opened by the caller, which keeps its writer thread's guard.
            audit: None,
            shared_max_age: self.shared_max_age,
            frame_ancestors,
            upload: crate::http::UploadSettings {
                max_bytes: self.max_upload_mb.max(1) << 20,
                concurrent: self.max_concurrent_uploads.max(1),
                min_rate: self.min_upload_kib_per_s << 10,
                options: crate::ingest::Options {
                    limits: crate::ingest::Limits { max_header_bytes: self.max_header_mb.max(1) << 20, max_unpacked_bytes: self.max_unpacked_gb.max(1) << 30, ..Default::default() },
                    ..self.deid.options()
                },
                ..crate::http::UploadSettings::default()
            },
        }
    }
}

/// The viewer's `frame-ancestors` sources: those given, or `'self'` and the CORS origins. A `*`
/// among the CORS origins is not carried over: reading frames from anywhere is no reason to let
/// any site frame the viewer.
fn frame_ancestors(given: &[String], cors_origins: &[String], errors: &mut ConfigErrors) -> Vec<String> {
    let given: Vec<&str> = given.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect();
    if given.is_empty() {
        let cors = crate::http::Cors::new(cors_origins.iter().cloned());
        let origins: Vec<String> = cors
            .origins()
            .filter_map(|o| errors.take(csp_source(o).map_err(|_| format!("cors origin {o:?} is not an origin, so it cannot be a frame ancestor"))))
            .map(str::to_owned)
            .collect();
        return std::iter::once("'self'".to_owned()).chain(origins).collect();
    }
    if given.len() > 1 && given.contains(&"'none'") {
        errors.push("frame ancestor 'none' cannot be combined with others");
    }
    given.into_iter().filter_map(|s| errors.take(csp_source(s.trim_end_matches('/')))).map(str::to_owned).collect()
}

/// `text` when it is one CSP source expression: a keyword or an origin such as
/// `https://portal.example.org` or `https://*.example.org:8443`, nothing that could end the
/// directive or start another.
fn csp_source(text: &str) -> Result<&str, String> {
    let keyword = matches!(text, "'self'" | "'none'" | "*");
    let origin = !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:/*_".contains(&b));
    if keyword || origin { Ok(text) } else { Err(format!("frame ancestor {text:?} is not 'self', 'none', * or an origin")) }
}

fn pseudonym_key(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim().trim_end_matches('=')).map_err(|_| "pseudonym key is not base64url".to_owned())?;
    if key.len() < crate::token::MIN_SECRET_BYTES {
        return Err(format!("pseudonym key is {} bytes, at least {} are needed", key.len(), crate::token::MIN_SECRET_BYTES));
    }
    Ok(key)
}

/// `framegate sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Keys file; the first key signs.
    #[arg(long, env = "FRAMEGATE_KEYS_FILE")]
    pub keys_file: PathBuf,
    /// Seconds until the token expires.
    #[arg(long)]
    pub ttl: u64,
    /// What the token opens: framegate's routes (`view`), the NGINX static route to the
    /// original files (`files`), or uploads (`upload`).
    #[arg(long, value_enum, default_value_t = crate::token::Purpose::View)]
    pub purpose: crate::token::Purpose,
    /// Object key (`ct/series1/img0001.dcm`) or key prefix (`ct/series1`).
    pub scope: String,
}

/// The de-identification of ingested objects (`ingest` and the upload route): the Basic
/// Profile, and the PS3.15 options asked for.
#[derive(Debug, Args)]
pub struct DeidArgs {
    /// Keep dates and times, every one of a patient shifted by the same number of days (a keyed
    /// hash of the original Patient ID), so intervals between studies survive.
    #[arg(long, env = "FRAMEGATE_RETAIN_DATES_SHIFTED")]
    pub retain_dates_shifted: bool,
    /// Keep age, sex, size, weight and the other patient characteristics the option names.
    #[arg(long, env = "FRAMEGATE_RETAIN_PATIENT_CHARACTERISTICS")]
    pub retain_patient_characteristics: bool,
    /// Keep descriptions (study, series, protocol), cleaned of names, IDs and numbers.
    #[arg(long, env = "FRAMEGATE_CLEAN_DESCRIPTORS")]
    pub clean_descriptors: bool,
    /// Images whose pixels may show identifying text (Burned In Annotation YES, or modality US,
    /// SC or XC): left out and listed (refuse), or stored and listed (keep).
    #[arg(long, env = "FRAMEGATE_BURNED_IN", value_enum, default_value_t = crate::ingest::BurnedIn::Refuse)]
    pub burned_in: crate::ingest::BurnedIn,
}

impl DeidArgs {
    /// The ingest options these flags describe.
    pub fn options(&self) -> crate::ingest::Options {
        crate::ingest::Options {
            deid: crate::deid::Options {
                retain_dates_shifted: self.retain_dates_shifted,
                retain_patient_characteristics: self.retain_patient_characteristics,
                clean_descriptors: self.clean_descriptors,
            },
            burned_in: self.burned_in,
            ..Default::default()
        }
    }
}

/// `framegate ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// DICOM files, folders, ZIP archives (CD exports), JPEG or PNG images, or s3://bucket/prefix.
    #[arg(required = true)]
    pub sources: Vec<String>,
    /// A folder, or s3://bucket/prefix [default: the serving bucket of --s3-bucket and --s3-prefix].
    #[arg(long)]
    pub to: Option<String>,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(flatten)]
    pub deid: DeidArgs,
    /// Secret (base64url, 32 bytes or more) for UID pseudonyms; give serve the same one, or the
    /// keys file it derives it from.
    #[arg(long, env = "FRAMEGATE_PSEUDONYM_KEY", hide_env_values = true)]
    pub pseudonym_key: Option<String>,
    /// Keys file, whose first key the pseudonym key is derived from when none is given.
    #[arg(long, env = "FRAMEGATE_KEYS_FILE")]
    pub keys_file: Option<PathBuf>,
    /// Write the JSON manifest here (a summary goes to stderr either way).
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// Objects uploaded at once.
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
    /// Take share i of n (from 0), so that n processes split one large source.
    #[arg(long, value_parser = crate::ingest::Shard::parse)]
    pub shard: Option<crate::ingest::Shard>,
    /// Largest ratio of a ZIP entry's size to the bytes it really occupies in the archive.
    #[arg(long, default_value_t = 200)]
    pub max_zip_ratio: u64,
    /// Largest total one ZIP archive may unpack to, in GiB.
    #[arg(long, default_value_t = 64)]
    pub max_unpacked_gb: u64,
    /// Store grey native frames as lossless HTJ2K (`htj2k`), or Pixel Data as the source has it.
    #[arg(long, value_enum, default_value_t = crate::ingest::Transcode::None)]
    pub transcode: crate::ingest::Transcode,
}

impl IngestArgs {
    /// The ingest options these flags describe.
    pub fn options(&self) -> crate::ingest::Options {
        let mut options = self.deid.options();
        options.jobs = self.jobs.max(1);
        options.shard = self.shard.unwrap_or_default();
        options.limits.max_ratio = self.max_zip_ratio.max(1);
        options.limits.max_unpacked_bytes = self.max_unpacked_gb.max(1) << 30;
        options.transcode = self.transcode;
        options
    }

    /// The pseudonym secret: given, or derived from the keys file as serve derives it.
    pub fn pseudonym_secret(&self) -> Result<Vec<u8>, String> {
        if let Some(text) = &self.pseudonym_key {
            return pseudonym_key(text);
        }
        let file = self.keys_file.as_ref().ok_or("ingest needs --pseudonym-key or --keys-file: the pseudonyms must be the ones serve uses")?;
        let keys = crate::token::Keyring::load(file).map_err(|e| e.to_string())?;
        Ok(keys.derive(crate::PSEUDONYM_CONTEXT))
    }
}

/// An `s3://bucket/prefix` argument: the bucket, and the prefix without slashes at its ends.
pub fn s3_url(text: &str) -> Option<Result<(String, String), String>> {
    let rest = text.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Some(Err(format!("{text:?} names no bucket")));
    }
    Some(Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned())))
}

/// `framegate demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder to write the sample data set into.
    #[arg(long, env = "FRAMEGATE_DEMO_DIR", default_value = "framegate-demo")]
    pub dir: PathBuf,
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "FRAMEGATE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Seconds the printed URLs stay valid.
    #[arg(long, default_value_t = 3600)]
    pub ttl: u64,
    #[command(flatten)]
    pub tuning: Tuning,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};
    use crate::Settings;

    fn settings(flags: &[&str]) -> Result<Settings, String> {
        let args = ["framegate", "serve", "--root", "r", "--keys-file", "k"].iter().chain(flags);
        let Command::Serve(serve) = Cli::try_parse_from(args).map_err(|e| e.to_string())?.command else { unreachable!("serve was parsed") };
        serve.tuning.settings().map_err(|e| e.to_string())
    }

    #[test]
    fn frame_ancestors_default_to_self_and_the_cors_origins_without_a_star() {
        assert_eq!(settings(&[]).unwrap().frame_ancestors, ["'self'"]);
        let s = settings(&["--cors-origin", "https://a.example/,*", "--cors-origin", "https://b.example:8443"]).unwrap();
        assert_eq!(s.frame_ancestors, ["'self'", "https://a.example", "https://b.example:8443"]);
        let s = settings(&["--cors-origin", "https://a.example", "--frame-ancestors", "https://portal.example,https://*.example.org"]).unwrap();
        assert_eq!(s.frame_ancestors, ["https://portal.example", "https://*.example.org"]);
        assert_eq!(settings(&["--frame-ancestors", "'none'"]).unwrap().frame_ancestors, ["'none'"]);
    }

    #[test]
    fn a_frame_ancestor_cannot_smuggle_another_directive() {
        for bad in ["https://a.example; script-src *", "https://a.example 'unsafe-inline'", "'unsafe-inline'", "'none',https://a.example"] {
            assert!(settings(&["--frame-ancestors", bad]).is_err(), "{bad}");
        }
        assert!(settings(&["--cors-origin", "https://a.example;x"]).is_err());
    }

    /// Issue 22, attack 5: serve had no bound of its own on what one upload unpacks to.
    #[test]
    fn serve_bounds_what_an_uploaded_archive_unpacks_to() {
        assert_eq!(settings(&[]).unwrap().upload.options.limits.max_unpacked_bytes, 16 << 30);
        assert_eq!(settings(&["--max-unpacked-gb", "3"]).unwrap().upload.options.limits.max_unpacked_bytes, 3 << 30);
    }

    #[test]
    fn the_limits_the_integration_tests_drive_reach_the_settings() {
        let s = settings(&[]).unwrap();
        assert_eq!((s.max_age, s.upload.concurrent, s.server.max_connections), (86_400, 2, 4096));
        let s = settings(&["--max-age", "60", "--max-concurrent-uploads", "5", "--max-connections", "7"]).unwrap();
        assert_eq!((s.max_age, s.upload.concurrent, s.server.max_connections), (60, 5, 7));
        let s = settings(&["--max-concurrent-uploads", "0", "--max-connections", "0"]).unwrap();
        assert_eq!((s.upload.concurrent, s.server.max_connections), (1, 1), "a zero would refuse everything");
    }

    #[test]
    fn the_shared_max_age_defaults_to_five_minutes() {
        assert_eq!(settings(&[]).unwrap().shared_max_age, 300);
        assert_eq!(settings(&["--shared-max-age", "2"]).unwrap().shared_max_age, 2);
    }
}
