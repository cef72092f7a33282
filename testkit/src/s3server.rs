//! A real S3 protocol server in-process: s3s over s3s-fs on 127.0.0.1:0, with SigV4, plus what
//! AWS does that s3s-fs leaves out (`If-Match` on GET) and switches to inject faults.
//!
//! Multipart uploads are kept here rather than by s3s-fs, which names a file after the base64 of
//! the key and so cannot hold an upload to a key over about 150 characters (a study, series and
//! instance of pseudonymous UIDs): parts go to files of their own, and completing the upload
//! PUTs their concatenation through s3s-fs, which stores it as any other object.
//!
//! Listings are answered here too, as AWS answers them ([`listing`]): s3s-fs walks the whole
//! bucket and sorts it for every page, and lists no ETags, so a listing of 10,000 keys cost it
//! ten walks and framegate 10,000 HEADs, each an MD5 of a whole file. That was this server's
//! cost, not framegate's, and it hid framegate's in the catalog bench.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::config::SharedCredentialsProvider;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use s3s::dto::{GetObjectInput, GetObjectOutput, HeadObjectInput, HeadObjectOutput, StreamingBlob};
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use s3s_fs::FileSystem;

mod listing;

pub const ACCESS_KEY: &str = "AKIAFRAMEGATETEST";
pub const SECRET_KEY: &str = "framegate-test-secret-do-not-log-me";
pub const BUCKET: &str = "framegate-test";

/// One attempt of framegate's requests to this server. Far above a loopback answer even on two
/// loaded cores (700 ms gave false 504s there), yet short enough that a stalled attempt is
/// retried and stalls outlast the whole request within a test: a fault test stalls longer.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// A whole request of framegate's to this server, retries included: room for a stalled attempt
/// and its retry.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(8);

/// Faults to inject into the next requests.
#[derive(Default)]
pub struct Faults {
    /// Answer this many HEAD/GET requests with 503.
    pub unavailable: AtomicU32,
    /// Stall this many requests by `stall`.
    pub stalled: AtomicU32,
    /// Stall duration in ms.
    pub stall_ms: AtomicU32,
    /// Cut this many GET bodies to half their length.
    pub cut: AtomicU32,
    /// List as s3s-fs does, without ETags (as some S3-compatible stores do), so that framegate
    /// must HEAD each listed object.
    pub untagged_listing: AtomicBool,
    /// Milliseconds every request waits before it is answered: a round trip to a real S3
    /// region rather than loopback (for the benches).
    pub latency_ms: AtomicU32,
}

fn take(counter: &AtomicU32) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

/// s3s-fs with If-Match, faults and a log of the byte ranges served; clones share all three,
/// so the test keeps one and s3s serves another.
#[derive(Clone)]
pub struct TestS3 {
    fs: Arc<FileSystem>,
    root: Arc<std::path::PathBuf>,
    pub faults: Arc<Faults>,
    served: Arc<Mutex<Vec<(String, u64)>>>,
    /// Multipart uploads begun: upload id to bucket and key.
    uploads: Arc<Mutex<std::collections::HashMap<String, (String, String)>>>,
    /// ETags the listing computed, as S3 keeps them with each object.
    etags: Arc<listing::ETags>,
    /// The key each ListObjectsV2 request started after (`None`: from the start, or a
    /// continuation), in order.
    listings: Arc<Mutex<Vec<Option<String>>>>,
}

impl TestS3 {
    /// The round trip the benches may ask for.
    async fn delay(&self) {
        let latency = self.faults.latency_ms.load(Ordering::SeqCst);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(u64::from(latency))).await;
        }
    }

    async fn inject(&self) -> S3Result<()> {
        self.delay().await;
        if take(&self.faults.stalled) {
            tokio::time::sleep(Duration::from_millis(u64::from(self.faults.stall_ms.load(Ordering::SeqCst)))).await;
        }
        if take(&self.faults.unavailable) {
            return Err(s3_error!(ServiceUnavailable, "injected fault"));
        }
        Ok(())
    }

    /// Where each ListObjectsV2 request so far started: after this key, or (`None`) at the start
    /// or at a continuation.
    pub fn listings(&self) -> Vec<Option<String>> {
        self.listings.lock().unwrap().clone()
    }

    /// Bytes of GET bodies served for `key` so far.
    pub fn served(&self, key: &str) -> Vec<u64> {
        self.served.lock().unwrap().iter().filter(|(k, _)| k == key).map(|(_, n)| *n).collect()
    }
}

#[async_trait::async_trait]
impl S3 for TestS3 {
    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.inject().await?;
        // S3 has no folders: a key that names one of s3s-fs's directories is simply missing.
        if self.root.join(&req.input.bucket).join(&req.input.key).is_dir() {
            return Err(s3_error!(NoSuchKey));
        }
        self.fs.head_object(req).await
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.inject().await?;
        let key = req.input.key.clone();
        if let Some(wanted) = req.input.if_match.clone() {
            let head = S3Request {
                input: HeadObjectInput::builder().bucket(req.input.bucket.clone()).key(key.clone()).build().unwrap(),
                method: hyper::Method::HEAD,
                uri: req.uri.clone(),
                headers: req.headers.clone(),
                extensions: Default::default(),
                credentials: req.credentials.clone(),
                region: req.region.clone(),
                service: req.service.clone(),
                trailing_headers: None,
            };
            let current = self.fs.head_object(head).await?.output.e_tag;
            let matches = match (&wanted, &current) {
                (s3s::dto::ETagCondition::ETag(w), Some(c)) => w.value() == c.value(),
                (s3s::dto::ETagCondition::Any, Some(_)) => true,
                _ => false,
            };
            if !matches {
                return Err(s3_error!(PreconditionFailed, "If-Match does not match"));
            }
        }
        let mut resp = self.fs.get_object(req).await?;
        let length = resp.output.content_length.unwrap_or(0) as u64;
        self.served.lock().unwrap().push((key, length));
        if take(&self.faults.cut) {
            use futures_util::TryStreamExt;
            let body = resp.output.body.take().unwrap();
            let all: Vec<Bytes> = body.try_collect().await.map_err(|_| s3_error!(InternalError))?;
            let all: Vec<u8> = all.concat();
            let half = Bytes::from(all[..all.len() / 2].to_vec());
            resp.output.body = Some(StreamingBlob::wrap(futures_util::stream::once(async move { Ok::<_, std::io::Error>(half) })));
        }
        Ok(resp)
    }

    async fn put_object(&self, req: S3Request<s3s::dto::PutObjectInput>) -> S3Result<S3Response<s3s::dto::PutObjectOutput>> {
        self.fs.put_object(req).await
    }

    async fn create_bucket(&self, req: S3Request<s3s::dto::CreateBucketInput>) -> S3Result<S3Response<s3s::dto::CreateBucketOutput>> {
        self.fs.create_bucket(req).await
    }

    async fn head_bucket(&self, req: S3Request<s3s::dto::HeadBucketInput>) -> S3Result<S3Response<s3s::dto::HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn list_objects_v2(&self, req: S3Request<s3s::dto::ListObjectsV2Input>) -> S3Result<S3Response<s3s::dto::ListObjectsV2Output>> {
        self.listings.lock().unwrap().push(req.input.start_after.clone().filter(|_| req.input.continuation_token.is_none()));
        self.delay().await;
        if req.input.delimiter.is_some() || self.faults.untagged_listing.load(Ordering::SeqCst) {
            return self.fs.list_objects_v2(req).await;
        }
        let listing = listing::Listing { root: self.root.as_ref().clone(), etags: self.etags.clone() };
        let output = tokio::task::spawn_blocking(move || listing.page(&req.input)).await.map_err(|_| s3_error!(InternalError))?;
        Ok(S3Response::new(output.map_err(|_| s3_error!(InternalError))?))
    }

    async fn create_multipart_upload(&self, req: S3Request<s3s::dto::CreateMultipartUploadInput>) -> S3Result<S3Response<s3s::dto::CreateMultipartUploadOutput>> {
        let id = format!("{:016x}", rand::random::<u64>());
        self.uploads.lock().unwrap().insert(id.clone(), (req.input.bucket.clone(), req.input.key.clone()));
        let output = s3s::dto::CreateMultipartUploadOutput { bucket: Some(req.input.bucket), key: Some(req.input.key), upload_id: Some(id), ..Default::default() };
        Ok(S3Response::new(output))
    }

    async fn upload_part(&self, req: S3Request<s3s::dto::UploadPartInput>) -> S3Result<S3Response<s3s::dto::UploadPartOutput>> {
        use futures_util::StreamExt;
        use tokio::io::AsyncWriteExt;
        let input = req.input;
        if !self.uploads.lock().unwrap().contains_key(&input.upload_id) {
            return Err(s3_error!(NoSuchUpload));
        }
        let mut body = input.body.ok_or_else(|| s3_error!(IncompleteBody))?;
        let mut file = tokio::fs::File::create(self.part_path(&input.upload_id, input.part_number)).await.map_err(|_| s3_error!(InternalError))?;
        while let Some(chunk) = body.next().await {
            file.write_all(&chunk.map_err(|_| s3_error!(IncompleteBody))?).await.map_err(|_| s3_error!(InternalError))?;
        }
        file.flush().await.map_err(|_| s3_error!(InternalError))?;
        let output = s3s::dto::UploadPartOutput { e_tag: Some(s3s::dto::ETag::Strong(format!("part{}", input.part_number))), ..Default::default() };
        Ok(S3Response::new(output))
    }

    async fn complete_multipart_upload(&self, req: S3Request<s3s::dto::CompleteMultipartUploadInput>) -> S3Result<S3Response<s3s::dto::CompleteMultipartUploadOutput>> {
        let Some((bucket, key)) = self.uploads.lock().unwrap().remove(&req.input.upload_id) else { return Err(s3_error!(NoSuchUpload)) };
        let numbers: Vec<i32> = req.input.multipart_upload.as_ref().and_then(|m| m.parts.as_ref()).map(|parts| parts.iter().filter_map(|p| p.part_number).collect()).unwrap_or_default();
        let paths: Vec<std::path::PathBuf> = numbers.iter().map(|n| self.part_path(&req.input.upload_id, *n)).collect();
        // The parts joined in one file (copy_file_range: no bytes through user space), then
        // streamed into s3s-fs.
        let whole = self.root.join(format!(".multipart-{}-whole", req.input.upload_id));
        let joined = {
            let (paths, whole) = (paths.clone(), whole.clone());
            tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
                let mut out = std::fs::File::create(&whole)?;
                for path in &paths {
                    std::io::copy(&mut std::fs::File::open(path)?, &mut out)?;
                    std::fs::remove_file(path)?;
                }
                out.sync_all()?;
                Ok(out.metadata()?.len())
            })
        };
        let length = joined.await.map_err(|_| s3_error!(InternalError))?.map_err(|_| s3_error!(InvalidPart))?;
        let file = tokio::fs::File::open(&whole).await.map_err(|_| s3_error!(InternalError))?;
        let parts = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
        let put = S3Request {
            input: s3s::dto::PutObjectInput {
                bucket: bucket.clone(),
                key: key.clone(),
                body: Some(StreamingBlob::wrap(parts)),
                content_length: Some(length as i64),
                ..Default::default()
            },
            method: hyper::Method::PUT,
            uri: req.uri.clone(),
            headers: Default::default(),
            extensions: Default::default(),
            credentials: req.credentials.clone(),
            region: req.region.clone(),
            service: req.service.clone(),
            trailing_headers: None,
        };
        let stored = self.fs.put_object(put).await;
        let _ = std::fs::remove_file(&whole);
        let e_tag = stored?.output.e_tag;
        Ok(S3Response::new(s3s::dto::CompleteMultipartUploadOutput { bucket: Some(bucket), key: Some(key), e_tag, ..Default::default() }))
    }

    async fn abort_multipart_upload(&self, req: S3Request<s3s::dto::AbortMultipartUploadInput>) -> S3Result<S3Response<s3s::dto::AbortMultipartUploadOutput>> {
        self.uploads.lock().unwrap().remove(&req.input.upload_id);
        for number in 1..=10_000 {
            if std::fs::remove_file(self.part_path(&req.input.upload_id, number)).is_err() && number > 1 {
                break;
            }
        }
        Ok(S3Response::new(Default::default()))
    }
}

impl TestS3 {
    fn part_path(&self, upload: &str, number: i32) -> std::path::PathBuf {
        self.root.join(format!(".multipart-{upload}-{number}"))
    }
}

/// A running S3 server.
/// A framegate started by [`S3Server::framegate`] (for the benches; the tests start theirs
/// through `support`).
#[allow(dead_code)]
pub struct Framegate {
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    /// A token for the scope it was started with.
    pub token: String,
    /// Stops the server when sent or dropped.
    pub stop: tokio::sync::oneshot::Sender<()>,
    /// The server, ended (its state dropped) once stopped and its connections are done.
    pub ended: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub struct S3Server {
    pub addr: SocketAddr,
    pub s3: TestS3,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl S3Server {
    /// Serves `root` (buckets are its folders) on 127.0.0.1:0, creating [`BUCKET`].
    pub async fn start(root: &Path) -> S3Server {
        let s3 = TestS3 {
            fs: Arc::new(FileSystem::new(root).unwrap()),
            root: Arc::new(root.to_owned()),
            faults: Arc::default(),
            served: Arc::default(),
            uploads: Arc::default(),
            etags: Arc::default(),
            listings: Arc::default(),
        };
        let service = {
            let mut b = s3s::service::S3ServiceBuilder::new(s3.clone());
            b.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            b.build()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                // Without it every small response waits on Nagle and delayed ACKs (~40 ms).
                stream.set_nodelay(true).unwrap();
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        let server = S3Server { addr, s3, task };
        server.client(ACCESS_KEY, SECRET_KEY).create_bucket().bucket(BUCKET).send().await.unwrap();
        server
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The SDK configuration production would load from the environment, with these credentials.
    pub fn sdk(&self, access: &str, secret: &str) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(access, secret, None, None, "test")))
            .region(Region::new("us-east-1"))
            .build()
    }

    /// framegate's store options for this server.
    pub fn options(&self, bucket: &str) -> framegate::store::s3::S3Options {
        let mut options = framegate::store::s3::S3Options::new(bucket);
        options.endpoint = Some(self.endpoint());
        options.path_style = true;
        options.attempt_timeout = ATTEMPT_TIMEOUT;
        options.timeout = REQUEST_TIMEOUT;
        options
    }

    /// A plain client, for uploads.
    pub fn client(&self, access: &str, secret: &str) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk(access, secret)).endpoint_url(self.endpoint()).force_path_style(true).build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// framegate over this server's bucket with empty caches, on a loopback port, and a token
    /// for `scope`: what the S3 benches drive. Dropping the returned sender stops it.
    #[allow(dead_code)]
    pub async fn framegate(&self, keys: &str, scope: &str) -> Framegate {
        use framegate::{Settings, State, key::ObjectKey, store::s3::S3Store, token::Keyring};
        let store = S3Store::from_sdk(&self.sdk(ACCESS_KEY, SECRET_KEY), &self.options(BUCKET));
        let state = Arc::new(State::new(Keyring::parse(keys).unwrap(), Arc::new(store), Settings::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let ended = tokio::spawn(framegate::run(listener, state, async {
            let _ = stopped.await;
        }));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let token = Keyring::parse(keys).unwrap().sign(&ObjectKey::parse_plain(scope).unwrap(), now + 3600);
        Framegate { base, token, stop, ended }
    }

    pub async fn put(&self, key: &str, bytes: Vec<u8>) {
        self.client(ACCESS_KEY, SECRET_KEY).put_object().bucket(BUCKET).key(key).body(aws_sdk_s3::primitives::ByteStream::from(bytes)).send().await.unwrap();
    }
}

pub const GIB: u64 = 1 << 30;
pub const SIDE: u16 = 1024;
pub const FRAME: u64 = SIDE as u64 * SIDE as u64 * 2;

/// Writes a 1 GiB multi-frame object straight into the bucket folder, sparse: the header and
/// frames 1 and 300 hold the cine's first frame, every other frame is zeros. The ETag goes
/// where s3s-fs 0.14.1 keeps it, so no 1 GiB upload (and MD5) is needed.
pub fn write_gib_object(root: &std::path::Path, key: &str) -> (u64, u64) {
    let mut obj = framegate::sample::cine(1, SIDE);
    obj.put(dicom_core::DataElement::new(dicom_dictionary_std::tags::NUMBER_OF_FRAMES, dicom_core::VR::IS, dicom_core::PrimitiveValue::from((GIB / FRAME).to_string())));
    let mut bytes = framegate::sample::to_bytes(obj).unwrap();
    let header = bytes.len() as u64 - FRAME;
    let length_at = header as usize - 4;
    bytes[length_at..header as usize].copy_from_slice(&(GIB as u32).to_le_bytes());
    let path = root.join(BUCKET).join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(&path).unwrap();
    use std::os::unix::fs::FileExt;
    file.write_all_at(&bytes, 0).unwrap();
    file.write_all_at(&bytes[header as usize..], header + 299 * FRAME).unwrap();
    file.set_len(header + GIB).unwrap();
    let b64 = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, s);
    let info = root.join(format!(".bucket-{}.object-{}.internal.json", b64(BUCKET), b64(key)));
    std::fs::write(info, r#"{"e_tag":"gib-object-v1"}"#).unwrap();
    (header, header + GIB)
}
