//! The test harness: a real server over a temp folder, a store that counts what it is asked
//! for, and a small HTTP client.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use framegate::key::ObjectKey;
use framegate::store::fs::FsStore;
use framegate::store::s3::S3Store;

use super::s3server::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};
use framegate::store::{ByteStream, Listed, ObjectMeta, Store, StoreError};
use framegate::token::Keyring;
use framegate::{Settings, State};
use http_body_util::{BodyExt, Empty};
use hyper::header::HeaderMap;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// Fixed keys so failures are reproducible.
pub const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\nk0:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8\n";

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub fn key(s: &str) -> ObjectKey {
    ObjectKey::parse_plain(s).unwrap()
}

/// A store that records every ranged read and stream it serves.
pub struct Counting {
    inner: Arc<dyn Store>,
    reads: Mutex<Vec<(String, Range<u64>)>>,
    /// Every call framegate made: heads, reads, streams and listings.
    calls: std::sync::atomic::AtomicUsize,
}

impl Counting {
    /// Ranges read from `key` so far.
    pub fn reads_of(&self, k: &str) -> Vec<Range<u64>> {
        self.reads.lock().unwrap().iter().filter(|(name, _)| name == k).map(|(_, r)| r.clone()).collect()
    }

    pub fn clear(&self) {
        self.reads.lock().unwrap().clear();
    }

    /// Calls of any kind made so far.
    pub fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn count(&self) {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Store for Counting {
    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta, StoreError> {
        self.count();
        self.inner.head(key).await
    }
    async fn read(&self, key: &ObjectKey, meta: &ObjectMeta, range: Range<u64>) -> Result<Bytes, StoreError> {
        self.count();
        self.reads.lock().unwrap().push((key.as_str(), range.clone()));
        self.inner.read(key, meta, range).await
    }
    async fn stream(&self, key: &ObjectKey, meta: &ObjectMeta, range: Range<u64>) -> Result<ByteStream, StoreError> {
        self.count();
        self.reads.lock().unwrap().push((key.as_str(), range.clone()));
        self.inner.stream(key, meta, range).await
    }
    async fn list(&self, prefix: &ObjectKey) -> Result<Vec<Listed>, StoreError> {
        self.count();
        self.inner.list(prefix).await
    }
    async fn list_cut(&self, prefix: &ObjectKey, cuts: framegate::store::Cuts<'_>) -> Result<Vec<Listed>, StoreError> {
        self.count();
        self.inner.list_cut(prefix, cuts).await
    }
    async fn put(&self, key: &ObjectKey, body: ByteStream) -> Result<u64, StoreError> {
        self.count();
        self.inner.put(key, body).await
    }
}

/// Which store a test server reads from; shared suites run on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Fs,
    S3,
}

/// A running server over a temp folder, or over an in-process S3 server whose bucket lives in
/// that folder.
pub struct Server {
    pub addr: SocketAddr,
    pub keys: Keyring,
    pub dir: TempDir,
    pub store: Arc<Counting>,
    pub s3: Option<S3Server>,
    /// The running server's state, for a second listener over it.
    pub state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    pub async fn start() -> Server {
        Self::start_on(Backend::Fs, Settings::default()).await
    }

    pub async fn start_with(settings: Settings) -> Server {
        Self::start_on(Backend::Fs, settings).await
    }

    pub async fn start_on(backend: Backend, settings: Settings) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let (inner, s3): (Arc<dyn Store>, _) = match backend {
            Backend::Fs => (Arc::new(FsStore::new(dir.path()).unwrap()), None),
            Backend::S3 => {
                let s3 = S3Server::start(dir.path()).await;
                let store = S3Store::from_sdk(&s3.sdk(ACCESS_KEY, SECRET_KEY), &s3.options(BUCKET));
                (Arc::new(store), Some(s3))
            }
        };
        Self::start_over(dir, inner, s3, settings).await
    }

    /// A server over any store.
    pub async fn start_over(dir: TempDir, inner: Arc<dyn Store>, s3: Option<S3Server>, settings: Settings) -> Server {
        capture_logs();
        let store = Arc::new(Counting { inner, reads: Mutex::default(), calls: Default::default() });
        let state = Arc::new(State::new(Keyring::parse(KEYS).unwrap(), store.clone(), settings));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(framegate::run(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        Server { addr, keys: Keyring::parse(KEYS).unwrap(), dir, store, s3, state, stop: Some(stop), task: Some(task) }
    }

    /// A local path; for S3 servers the object is not visible through it, use `put`.
    pub fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.path().join(rel)
    }

    /// Stores `bytes` as object `rel`, in the folder or through the S3 API.
    pub async fn put(&self, rel: &str, bytes: Vec<u8>) {
        match &self.s3 {
            Some(s3) => s3.put(rel, bytes).await,
            None => {
                let path = self.path(rel);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, bytes).unwrap();
            }
        }
    }

    /// Stores a CT slice of `size`² as `rel` and returns its bytes.
    pub async fn put_ct(&self, rel: &str, index: usize, slices: usize, size: u16) -> Vec<u8> {
        let bytes = framegate::sample::to_bytes(framegate::sample::ct_slice(index, slices, size)).unwrap();
        self.put(rel, bytes.clone()).await;
        bytes
    }

    /// A token for `scope` valid for an hour.
    pub fn token(&self, scope: &str) -> String {
        self.keys.sign(&key(scope), now() + 3600)
    }

    /// `http://addr/v1/{token for scope}/{key}{rest}`.
    pub fn url(&self, scope: &str, k: &str, rest: &str) -> String {
        format!("http://{}/v1/{}/{}{}", self.addr, self.token(scope), k, rest)
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits for it to drain.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The body decoded as JPEG: (width, height, pixels).
    pub fn jpeg(&self) -> (u16, u16, Vec<u8>) {
        assert_eq!(self.header("content-type"), Some("image/jpeg"), "status {} body {:?}", self.status, String::from_utf8_lossy(&self.body));
        let mut decoder = jpeg_decoder::Decoder::new(&self.body[..]);
        let pixels = decoder.decode().expect("a valid JPEG");
        let info = decoder.info().unwrap();
        (info.width, info.height, pixels)
    }

    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

pub async fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> Resp {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client.request(req.body(Empty::new()).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Resp { status, headers, body }
}

/// A request with a body, read whole.
pub async fn request_with_body(method: &str, url: &str, body: Vec<u8>) -> Resp {
    let client: Client<_, http_body_util::Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = hyper::Request::builder().method(method).uri(url).body(http_body_util::Full::new(Bytes::from(body))).unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Resp { status, headers, body }
}

/// `GET path` on a connection of its own, closed after the answer: the answer's text, or why
/// there was none (refused, closed unanswered), for a test that expects the server to turn it away.
pub async fn raw_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await.map_err(|e| format!("send: {e}"))?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.map_err(|e| format!("read: {e}"))?;
    if answer.is_empty() {
        return Err("closed without an answer".into());
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

pub async fn get(url: &str) -> Resp {
    request("GET", url, &[]).await
}

/// Whether an external tool is installed: [`have_tools`] for one.
pub fn have_tool(tool: &str) -> bool {
    have_tools(&[tool])
}

/// Whether every one of `tools` is installed. Missing tools fail the test under CI (where
/// .ci/run installs them) and skip it elsewhere, visibly (see [`skip`]).
pub fn have_tools(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools.iter().copied().filter(|tool| !framegate_testkit::installed(tool)).collect();
    if !missing.is_empty() {
        skip(&format!("not installed: {} (bash .ci/run installs it)", missing.join(", ")));
    }
    missing.is_empty()
}

/// Tests skipped so far in this run.
static SKIPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Marks the running test as skipped for `reason`: a failure under CI, which installs and builds
/// everything the tests need; elsewhere a `SKIPPED:` line with a running count on stderr. The
/// line bypasses libtest's capture (which `eprintln!` goes through and which hides the output
/// of a passing test), so a skipped test is seen, not counted as passed in silence.
pub fn skip(reason: &str) {
    use std::io::Write;
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    assert!(std::env::var_os("CI").is_none(), "{test} cannot run under CI: {reason}");
    let count = SKIPPED.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {reason} ({count} skipped so far)");
}

pub use framegate_testkit::{free_port, poll, until, until_blocking};

/// How long a test waits for a condition before failing: long enough for two cores shared with
/// other builds, short enough that a hang fails well before CI's own timeout.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub use framegate::sample::rgb_image;

/// Whether this build has the codec feature `name` (`turbo` or `jpegls`).
pub fn built_with(name: &str) -> bool {
    (name == "turbo" && cfg!(feature = "turbo")) || (name == "jpegls" && cfg!(feature = "jpegls"))
}

/// Runs a command, panicking with its output when it fails.
pub fn run(cmd: &str, args: &[&str]) {
    let out = std::process::Command::new(cmd).args(args).output().unwrap();
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Writes a CT slice of `size`² into a folder.
pub fn write_ct(dir: &Path, rel: &str, index: usize, slices: usize, size: u16) {
    framegate::sample::write(framegate::sample::ct_slice(index, slices, size), &dir.join(rel)).unwrap();
}

/// Everything the servers of this test binary logged, for tests that check what is logged.
static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();

fn capture_logs() {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let buffer = buffer.clone();
            move || Recorder(buffer.clone())
        };
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(writer).with_max_level(tracing::Level::INFO).finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    });
}

/// All log lines so far.
pub fn logs() -> String {
    LOGS.get().map(|b| String::from_utf8_lossy(&b.lock().unwrap()).into_owned()).unwrap_or_default()
}

/// A writer that keeps what it is given, for a test to read back: the log capture's, and an
/// access log's. Clones share the bytes.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs a test body once per backend.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::super::support::Backend;
            #[tokio::test]
            async fn fs() {
                super::$name(Backend::Fs).await
            }
            #[tokio::test]
            async fn s3() {
                super::$name(Backend::S3).await
            }
        }
    )*};
}

/// Expected grey level of the CT phantom at a pixel, under window (center, width) linear.
pub fn ct_expected(index: usize, slices: usize, size: u16, col: u16, row: u16, center: f64, width: f64) -> u8 {
    let z = if slices > 1 { index as f64 / (slices - 1) as f64 } else { 0.5 };
    let n = f64::from(size);
    let hu = framegate::sample::ct_hu(2.0 * f64::from(col) / n - 1.0, 2.0 * f64::from(row) / n - 1.0, z);
    let stored = (i32::from(hu) + 1024).clamp(0, 4095);
    let w = framegate::render::Window::new(center, width, framegate::render::VoiFunction::Linear).unwrap();
    w.level(f64::from(stored) - 1024.0)
}

/// Mean absolute difference between two grey images.
pub fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| f64::from(x.abs_diff(*y))).sum::<f64>() / a.len() as f64
}

/// A Part 10 file (explicit VR little endian data set) rewritten with every data element before
/// Pixel Data as explicit `UN`, the way some toolkits pass on attributes they do not know: the
/// value is its Implicit VR Little Endian encoding (PS3.5 6.2.2). Sequences alternate between
/// defined and undefined length, so both encodings are met.
pub fn with_un_vrs(file: &[u8]) -> Vec<u8> {
    use dicom_core::header::Header;
    use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
    use framegate::dicom::index::{Parsed, parse_header};
    let Ok(Parsed::Done(header)) = parse_header(file, file.len() as u64) else { panic!("not a whole DICOM file") };
    let meta_end = 144 + u32::from_le_bytes(file[140..144].try_into().unwrap()) as usize;
    let implicit = dicom_transfer_syntax_registry::TransferSyntaxRegistry.get("1.2.840.10008.1.2").unwrap();
    let mut out = file[..meta_end].to_vec();
    for (n, element) in header.obj.into_iter().enumerate() {
        let tag = element.tag();
        let mut bytes = Vec::new();
        dicom_object::InMemDicomObject::from_element_iter([element]).write_dataset_with_ts(&mut bytes, implicit).unwrap();
        let undefined = bytes[4..8] == [0xFF; 4];
        let mut value = bytes[8..].to_vec();
        if undefined && n % 2 == 0 {
            value.truncate(value.len() - 8); // the sequence delimiter a defined length drops
        }
        out.extend_from_slice(&tag.0.to_le_bytes());
        out.extend_from_slice(&tag.1.to_le_bytes());
        out.extend_from_slice(b"UN\0\0");
        let len = if undefined && n % 2 == 1 { u32::MAX } else { value.len() as u32 };
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&value);
    }
    out.extend_from_slice(&file[header.pixel.header_offset as usize..]);
    out
}

/// A binary PGM or PPM of any maxval: width, height, channels, maxval and its samples
/// (16-bit big endian above 255).
pub fn parse_pnm(path: &Path) -> (u32, u32, u8, u32, Vec<u16>) {
    let bytes = std::fs::read(path).unwrap();
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        if bytes[at] == b'#' {
            while bytes[at] != b'\n' {
                at += 1;
            }
            continue;
        }
        let start = at;
        while !bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8(bytes[start..at].to_vec()).unwrap());
    }
    let channels = match fields[0].as_str() {
        "P5" => 1,
        "P6" => 3,
        other => panic!("{path:?}: not a binary PNM ({other})"),
    };
    let (w, h, maxval): (u32, u32, u32) = (fields[1].parse().unwrap(), fields[2].parse().unwrap(), fields[3].parse().unwrap());
    let data = &bytes[at + 1..];
    let samples: Vec<u16> = if maxval > 255 { data.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect() } else { data.iter().map(|&b| u16::from(b)).collect() };
    assert_eq!(samples.len(), (w * h) as usize * channels as usize, "{path:?}");
    (w, h, channels, maxval, samples)
}

/// Reads an 8-bit binary PGM or PPM.
pub fn read_pnm(path: &Path) -> (u32, u32, u8, Vec<u8>) {
    let (w, h, channels, maxval, samples) = parse_pnm(path);
    assert_eq!(maxval, 255, "{path:?}: 8-bit PNM expected");
    (w, h, channels, samples.into_iter().map(|v| v as u8).collect())
}

/// A PNG body decoded: width, height, channels (1 or 3) and 8-bit samples.
pub fn decode_png(body: &[u8]) -> (u32, u32, u8, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(body));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::Rgb => 3,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    (info.width, info.height, channels, buf)
}

/// Peak signal-to-noise ratio of two 8-bit pictures, in dB.
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum::<f64>() / a.len() as f64;
    if mse == 0.0 { f64::INFINITY } else { 10.0 * (255.0f64 * 255.0 / mse).log10() }
}
