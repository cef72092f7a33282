//! An S3 bucket (or any S3-compatible endpoint) as the store: HEAD for size and ETag, ranged
//! GETs pinned to that ETag with `If-Match`, so a replaced object is noticed, never spliced.
//!
//! Retries (a few, with backoff, on 5xx, throttling and connection errors, never on 4xx) and
//! timeouts are the SDK's standard machinery, configured here once.

use std::fmt::Debug;
use std::io;
use std::ops::Range;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use tokio_util::io::ReaderStream;

use aws_sdk_s3::types::Object;

use super::{ByteStream, Cuts, Listed, ObjectMeta, Store, StoreError};
use crate::key::ObjectKey;

/// Bytes per chunk when streaming an object to a client.
const STREAM_CHUNK: usize = 64 * 1024;
/// Listings stop here: a prefix holding more is a misuse, not a series.
const MAX_LISTED: usize = 100_000;
/// HEADs at once for listed objects that came without an ETag.
const LIST_HEADS: usize = 16;
/// Ranges of a cut listing read at once.
const LIST_RANGES: usize = 8;
/// Bytes per part of a multipart upload; an object smaller than one part is one PUT. S3 wants
/// parts of 5 MiB or more, and 10,000 parts at most: 8 MiB parts reach 78 GiB.
const PART: usize = 8 << 20;
/// Parts of one object uploaded at once.
const PARTS_IN_FLIGHT: usize = 4;

/// Where the objects are and how patient to be with the endpoint.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix prepended to every object key (`studies/` for `studies/ct/...`).
    pub prefix: String,
    /// Endpoint override for S3-compatible stores (MinIO, Ceph, R2) or tests.
    pub endpoint: Option<String>,
    /// Region; otherwise from the standard AWS chain.
    pub region: Option<String>,
    /// Address buckets by path (`endpoint/bucket/key`) rather than by host name.
    pub path_style: bool,
    /// Time for one attempt (connect, send, response headers).
    pub attempt_timeout: Duration,
    /// Time for a whole request, retries and reading a ranged body included.
    pub timeout: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
}

impl S3Options {
    /// Options for `bucket` with production defaults.
    pub fn new(bucket: impl Into<String>) -> Self {
        S3Options {
            bucket: bucket.into(),
            prefix: String::new(),
            endpoint: None,
            region: None,
            path_style: false,
            attempt_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(20),
            max_attempts: 3,
        }
    }
}

/// Objects in one bucket under one prefix.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    timeout: Duration,
}

impl S3Store {
    /// One page of the listing of `full`: the first, the one after the continuation `token`,
    /// or the first after the key `after`; and the continuation, when there is more.
    async fn page(&self, full: &str, token: Option<String>, after: Option<String>) -> Result<(Vec<Object>, Option<String>), StoreError> {
        let page = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(full)
            .set_continuation_token(token)
            .set_start_after(after)
            .send()
            .await
            .map_err(|e| classify(e, "list objects"))?;
        let more = if page.is_truncated() == Some(true) { page.next_continuation_token().map(str::to_owned) } else { None };
        Ok((page.contents().to_vec(), more))
    }

    /// The objects of the listing of `full` after the key `after`, through `until` (or to the
    /// end), page after page.
    async fn range(&self, full: &str, after: String, until: Option<String>) -> Result<Vec<Object>, StoreError> {
        let mut out = Vec::new();
        let (mut objects, mut more) = self.page(full, None, Some(after)).await?;
        loop {
            for object in objects {
                if let (Some(until), Some(key)) = (&until, object.key())
                    && key > until.as_str()
                {
                    return Ok(out);
                }
                out.push(object);
            }
            if out.len() > MAX_LISTED {
                return Err(too_many());
            }
            // A page that ends at the range's end ends the range: the next would start past it.
            let ended = until.is_some() && out.last().and_then(|o| o.key()) == until.as_deref();
            match more {
                Some(token) if !ended => (objects, more) = self.page(full, Some(token), None).await?,
                _ => return Ok(out),
            }
        }
    }

    /// Listed objects as framegate keys: those with an ETag, those without (to be asked), and
    /// how many have keys no framegate URL can name.
    fn listed(&self, objects: &[Object]) -> (Vec<Listed>, Vec<ObjectKey>, u64) {
        let (mut out, mut untagged, mut unaddressable) = (Vec::with_capacity(objects.len()), Vec::new(), 0);
        for object in objects {
            let Some(name) = object.key().and_then(|k| k.strip_prefix(&self.prefix)) else { continue };
            // Keys that are not valid framegate keys cannot be addressed by a URL anyway.
            let Ok(key) = ObjectKey::parse_plain(name) else {
                unaddressable += 1;
                continue;
            };
            let size = object.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
            match object.e_tag().map(unquote).filter(|e| !e.is_empty()) {
                Some(etag) => out.push(Listed { key, meta: ObjectMeta { size, etag } }),
                None => untagged.push(key),
            }
        }
        (out, untagged, unaddressable)
    }

    /// Connects with credentials and region from the standard AWS chain (environment,
    /// profile, web identity, instance metadata), as production does.
    pub async fn connect(options: &S3Options) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &options.region {
            loader = loader.region(Region::new(region.clone()));
        }
        Self::from_sdk(&loader.load().await, options)
    }

    /// A store from an SDK configuration (credentials, region, HTTP client) and our options,
    /// which apply the endpoint, addressing, retries and timeouts. Tests come in here too.
    pub fn from_sdk(sdk: &SdkConfig, options: &S3Options) -> Self {
        let mut config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(options.path_style)
            .retry_config(
                RetryConfig::standard().with_max_attempts(options.max_attempts.max(1)).with_initial_backoff(Duration::from_millis(50)).with_max_backoff(Duration::from_secs(1)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(options.attempt_timeout.min(Duration::from_secs(3)))
                    .operation_attempt_timeout(options.attempt_timeout)
                    .operation_timeout(options.timeout)
                    .build(),
            );
        if let Some(endpoint) = &options.endpoint {
            config = config.endpoint_url(endpoint);
        }
        if let Some(region) = &options.region {
            config = config.region(Region::new(region.clone()));
        }
        let prefix = options.prefix.trim_matches('/');
        S3Store {
            client: Client::from_conf(config.build()),
            bucket: options.bucket.clone(),
            prefix: if prefix.is_empty() { String::new() } else { format!("{prefix}/") },
            timeout: options.timeout,
        }
    }

    /// Checks at start-up that the bucket exists and the credentials may read it, so a
    /// misconfiguration stops the server with a clear message instead of failing every request.
    pub async fn check(&self) -> Result<(), StoreError> {
        self.client.head_bucket().bucket(&self.bucket).send().await.map(|_| ()).map_err(|e| match classify(e, "head bucket") {
            StoreError::NotFound => StoreError::Unavailable(format!("bucket {:?} does not exist", self.bucket)),
            other => other,
        })
    }

    fn full_key(&self, key: &ObjectKey) -> String {
        format!("{}{}", self.prefix, key.as_str())
    }

    async fn get(&self, key: &ObjectKey, meta: &ObjectMeta, range: &Range<u64>) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, StoreError> {
        if range.start >= range.end || range.end > meta.size {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "read past the end of the object").into());
        }
        self.client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .if_match(format!("\"{}\"", meta.etag))
            .send()
            .await
            .map_err(|e| classify(e, "get object"))
    }
}

impl S3Store {
    /// Uploads the parts of a multipart upload begun with `first` (a whole part) and `body`,
    /// several at once, and completes it; the caller aborts it on error. Each part is a task of
    /// its own, so parts upload while the body is read; dropping the set cancels them.
    async fn upload_parts(&self, full: &str, upload_id: &str, first: BytesMut, body: &mut ByteStream) -> Result<u64, StoreError> {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        let mut buffer = first;
        let mut done = Vec::new();
        let mut in_flight = tokio::task::JoinSet::new();
        let (mut number, mut written, mut ended) = (0i32, 0u64, false);
        loop {
            while !ended && buffer.len() < PART {
                match body.next().await {
                    Some(chunk) => buffer.extend_from_slice(&chunk?),
                    None => ended = true,
                }
            }
            let part = buffer.split_to(buffer.len().min(PART)).freeze();
            if !part.is_empty() {
                number += 1;
                written += part.len() as u64;
                let send = self.client.upload_part().bucket(&self.bucket).key(full).upload_id(upload_id).part_number(number).body(part.into()).send();
                in_flight.spawn(async move { send.await.map(|out| (number, out.e_tag().map(str::to_owned))) });
            }
            let last = ended && buffer.is_empty();
            while in_flight.len() >= PARTS_IN_FLIGHT || (last && !in_flight.is_empty()) {
                if let Some(result) = in_flight.join_next().await {
                    let uploaded = result.map_err(|e| StoreError::Unavailable(format!("upload part: {e}")))?;
                    done.push(uploaded.map_err(|e| classify(e, "upload part"))?);
                }
            }
            if last {
                break;
            }
        }
        done.sort_by_key(|(n, _)| *n);
        let parts = done.into_iter().map(|(n, etag)| CompletedPart::builder().part_number(n).set_e_tag(etag).build()).collect();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(full)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| classify(e, "complete multipart upload"))?;
        Ok(written)
    }
}

/// Maps an SDK failure to whose fault it is; logs what the operator needs, never a secret.
fn classify<E: ProvideErrorMetadata + Debug>(err: SdkError<E, HttpResponse>, op: &str) -> StoreError {
    match &err {
        SdkError::TimeoutError(_) => StoreError::Timeout,
        SdkError::DispatchFailure(failure) if failure.is_timeout() => StoreError::Timeout,
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("");
            let status = service.raw().status().as_u16();
            match code {
                "NoSuchKey" | "NotFound" => StoreError::NotFound,
                "PreconditionFailed" => StoreError::Changed,
                "NoSuchBucket" => StoreError::Unavailable("bucket does not exist".into()),
                "AccessDenied" | "Forbidden" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" => {
                    StoreError::Unavailable(format!("storage refused {op} ({code}): check credentials and {} permission", permission(op)))
                }
                // HEAD answers carry no error body, so only the status tells.
                _ if status == 404 => StoreError::NotFound,
                _ if status == 412 => StoreError::Changed,
                _ if status == 403 => StoreError::Unavailable(format!("storage refused {op} (403): check credentials and {} permission", permission(op))),
                _ => StoreError::Unavailable(format!("{op} failed: {}", if code.is_empty() { "service error" } else { code })),
            }
        }
        SdkError::DispatchFailure(_) => StoreError::Unavailable(format!("{op}: cannot reach storage")),
        SdkError::ResponseError(_) => StoreError::Unavailable(format!("{op}: unreadable response from storage")),
        _ => StoreError::Unavailable(format!("{op} failed")),
    }
}

/// The IAM action an operation needs, for the log line that says what to grant.
fn permission(op: &str) -> &'static str {
    match op {
        "list objects" => "s3:ListBucket",
        "head bucket" => "s3:ListBucket",
        "put object" | "create multipart upload" | "upload part" | "complete multipart upload" => "s3:PutObject",
        _ => "s3:GetObject",
    }
}

fn too_many() -> StoreError {
    StoreError::Unavailable(format!("more than {MAX_LISTED} objects under one prefix"))
}

fn unquote(etag: &str) -> String {
    etag.trim_start_matches("W/").trim_matches('"').to_owned()
}

#[async_trait::async_trait]
impl Store for S3Store {
    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta, StoreError> {
        let out = self.client.head_object().bucket(&self.bucket).key(self.full_key(key)).send().await.map_err(|e| classify(e, "head object"))?;
        let size = out.content_length().and_then(|l| u64::try_from(l).ok()).ok_or_else(|| StoreError::Unavailable("HEAD without a length".into()))?;
        let etag = out.e_tag().map(unquote).filter(|e| !e.is_empty()).ok_or_else(|| StoreError::Unavailable("HEAD without an ETag".into()))?;
        Ok(ObjectMeta { size, etag })
    }

    async fn read(&self, key: &ObjectKey, meta: &ObjectMeta, range: Range<u64>) -> Result<Bytes, StoreError> {
        let want = range.end - range.start;
        let read = async {
            let out = self.get(key, meta, &range).await?;
            let body = out.body.collect().await.map_err(|e| StoreError::Unavailable(format!("body cut short: {e}")))?;
            Ok::<_, StoreError>(body.into_bytes())
        };
        let bytes = tokio::time::timeout(self.timeout, read).await.map_err(|_| StoreError::Timeout)??;
        if bytes.len() as u64 != want {
            return Err(StoreError::Unavailable(format!("storage sent {} bytes for a range of {want}", bytes.len())));
        }
        Ok(bytes)
    }

    async fn stream(&self, key: &ObjectKey, meta: &ObjectMeta, range: Range<u64>) -> Result<ByteStream, StoreError> {
        let out = self.get(key, meta, &range).await?;
        // S3's body is read only as fast as the client takes it: memory stays flat.
        Ok(Box::pin(ReaderStream::with_capacity(out.body.into_async_read(), STREAM_CHUNK)))
    }

    async fn list(&self, prefix: &ObjectKey) -> Result<Vec<Listed>, StoreError> {
        self.list_cut(prefix, &super::uncut).await
    }

    /// The first page, then, when there is more, the ranges between the cuts at once: S3 pages
    /// a listing 1,000 keys at a time, one after another, at a round trip each.
    async fn list_cut(&self, prefix: &ObjectKey, cuts: Cuts<'_>) -> Result<Vec<Listed>, StoreError> {
        let full = format!("{}{}/", self.prefix, prefix.as_str());
        let (mut objects, more) = self.page(&full, None, None).await?;
        if more.is_some() {
            let Some(last) = objects.last().and_then(|o| o.key()).map(str::to_owned) else {
                return Err(StoreError::Unavailable("a listing page named no key".into()));
            };
            let (shown, _, _) = self.listed(&objects);
            let mut bounds: Vec<String> = cuts(shown).await.iter().map(|k| format!("{}{}", self.prefix, k.as_str())).filter(|k| k.starts_with(&full) && *k > last).collect();
            bounds.sort_unstable();
            bounds.dedup();
            // However many cuts a catalog gives, no more ranges than a listing can have pages.
            let step = bounds.len().div_ceil(MAX_LISTED / 1000).max(1);
            let bounds: Vec<String> = bounds.into_iter().step_by(step).collect();
            // Ranges (last, b1], (b1, b2], … (bn, end): each key in exactly one, whatever the cuts.
            let lows: Vec<String> = std::iter::once(last).chain(bounds.iter().cloned()).collect();
            let highs = bounds.into_iter().map(Some).chain(std::iter::once(None));
            let ranges: Vec<Vec<Object>> =
                futures_util::stream::iter(lows.into_iter().zip(highs)).map(|(after, until)| self.range(&full, after, until)).buffered(LIST_RANGES).try_collect().await?;
            objects.extend(ranges.into_iter().flatten());
            if objects.len() > MAX_LISTED {
                return Err(too_many());
            }
        }
        let (mut out, untagged, unaddressable) = self.listed(&objects);
        if unaddressable > 0 {
            // Counted, never named: a key can hold a patient's name. Ingest of a bucket relies on
            // this line to tell an operator that objects were passed over.
            tracing::warn!(skipped = unaddressable, "listing left out objects whose keys no framegate URL can name");
        }
        // AWS lists every ETag; some compatible stores (s3s-fs) do not, and a HEAD each fills in.
        let heads = futures_util::stream::iter(untagged).map(|key| async move { self.head(&key).await.map(|meta| Listed { key, meta }) }).buffer_unordered(LIST_HEADS);
        out.extend(heads.try_collect::<Vec<_>>().await?);
        Ok(out)
    }

    /// One PUT for an object smaller than a part; otherwise a multipart upload, completed only
    /// when the body has ended well and aborted when it has not, so S3 never shows a partial
    /// object. (A process killed midway leaves parts that no listing shows but that are billed:
    /// the README's lifecycle rule removes them.)
    async fn put(&self, key: &ObjectKey, mut body: ByteStream) -> Result<u64, StoreError> {
        let full = self.full_key(key);
        let mut first = BytesMut::new();
        let mut ended = false;
        while first.len() < PART {
            match body.next().await {
                Some(chunk) => first.extend_from_slice(&chunk?),
                None => {
                    ended = true;
                    break;
                }
            }
        }
        if ended {
            let len = first.len() as u64;
            self.client.put_object().bucket(&self.bucket).key(&full).body(first.freeze().into()).send().await.map_err(|e| classify(e, "put object"))?;
            return Ok(len);
        }
        let created = self.client.create_multipart_upload().bucket(&self.bucket).key(&full).send().await.map_err(|e| classify(e, "create multipart upload"))?;
        let upload_id = created.upload_id().ok_or_else(|| StoreError::Unavailable("multipart upload without an id".into()))?.to_owned();
        let result = self.upload_parts(&full, &upload_id, first, &mut body).await;
        if result.is_err() {
            // Best effort: the lifecycle rule catches what this misses.
            let _ = self.client.abort_multipart_upload().bucket(&self.bucket).key(&full).upload_id(&upload_id).send().await;
        }
        result
    }
}
