//! Where objects live: one trait for "how big, which version, give me these bytes".
//!
//! Every read after the first `head` names the version it expects (`ObjectMeta::etag`), so a
//! file replaced while it is served is noticed (`StoreError::Changed`) instead of mixing bytes
//! of two versions into one frame. Writes (ingest and the upload route) are whole or nothing: an
//! object appears under its key only once all of its bytes are stored.

use std::io;
use std::ops::Range;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use futures_util::future::BoxFuture;

use crate::key::ObjectKey;

pub mod fs;
pub mod metered;
pub mod revalidate;
pub mod s3;

/// A stream of an object's bytes, read as the client takes them.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// What a store knows of one object version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectMeta {
    /// Size in bytes.
    pub size: u64,
    /// Opaque version tag, stable while the object is unchanged (S3's ETag, or size and
    /// modification time for files), without quotes.
    pub etag: String,
}

/// Where a long listing may be cut to be read as ranges at once, asked once its first page is
/// known: keys under the prefix, in any order. Whatever it answers, the listing is the same;
/// keys that exist and are evenly spaced only make it faster.
pub type Cuts<'c> = &'c (dyn Fn(Vec<Listed>) -> BoxFuture<'c, Vec<ObjectKey>> + Send + Sync);

/// No cuts: the listing page after page.
pub fn uncut<'c>(_: Vec<Listed>) -> BoxFuture<'c, Vec<ObjectKey>> {
    Box::pin(async { Vec::new() })
}

/// One entry of a listing.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Full key of the object.
    pub key: ObjectKey,
    /// Its size and version.
    pub meta: ObjectMeta,
}

/// Store failures, with whose fault each is.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such object")]
    NotFound,
    #[error("object changed while being read")]
    Changed,
    #[error("storage timed out")]
    Timeout,
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    #[error("storage i/o error: {0}")]
    Io(#[from] io::Error),
}

/// An object store: a local folder, or S3.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Size and version of an object.
    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta, StoreError>;

    /// Exactly the bytes in `range` of the version `meta` describes.
    async fn read(&self, key: &ObjectKey, meta: &ObjectMeta, range: Range<u64>) -> Result<Bytes, StoreError>;

    /// The bytes in `range`, streamed.
    async fn stream(&self, key: &ObjectKey, meta: &ObjectMeta, range: Range<u64>) -> Result<ByteStream, StoreError>;

    /// Objects whose key starts with the segments of `prefix`, at any depth, in no set order.
    async fn list(&self, prefix: &ObjectKey) -> Result<Vec<Listed>, StoreError>;

    /// [`list`](Self::list), for a store that pages its listings: when the first page is not
    /// the whole listing, `cuts` is asked where the rest may be cut, and the ranges between the
    /// cuts are listed at once instead of page after page. A store whose listing is one call
    /// lists as `list` does.
    async fn list_cut(&self, prefix: &ObjectKey, cuts: Cuts<'_>) -> Result<Vec<Listed>, StoreError> {
        let _ = cuts;
        self.list(prefix).await
    }

    /// Stores `body` as `key`, replacing any object there, and answers the bytes written. Nothing
    /// is visible under `key` until the body has ended well: a body that ends in an error leaves
    /// the key as it was, and no partial object behind.
    async fn put(&self, key: &ObjectKey, body: ByteStream) -> Result<u64, StoreError> {
        let _ = (key, body);
        Err(StoreError::Unavailable("this store is read-only".into()))
    }
}
