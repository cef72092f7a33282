//! A store wrapper that trusts an object's version for a while: within `--revalidate-after`
//! seconds of the last `head`, the next one is answered from memory, so a cached frame,
//! info.json or stack.json costs no storage call at all (on S3, a round trip and a request
//! billed per scroll step). Reads still name the version they expect, so a replaced object is
//! never spliced: it is seen when the window ends, or at once when a read finds it changed.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use moka::future::Cache;

use super::{ByteStream, Cuts, Listed, ObjectMeta, Store, StoreError};
use crate::key::ObjectKey;

/// Versions kept at most: a few MiB, whatever the number of objects served.
const CAPACITY: u64 = 100_000;

/// Wraps a store with a window in which versions, absences and listings are trusted.
pub struct Revalidating {
    inner: Arc<dyn Store>,
    /// Each key's version, or `None` when it names no object (a prefix, most often).
    versions: Cache<ObjectKey, Option<ObjectMeta>>,
    /// Listings of prefixes, for stack.json.
    listings: Cache<ObjectKey, Arc<Vec<Listed>>>,
    /// A zero window: every call goes to the store.
    off: bool,
}

impl Revalidating {
    /// `inner`, with versions trusted for `window` after each `head` (none for a zero window).
    pub fn new(inner: Arc<dyn Store>, window: Duration) -> Self {
        let ttl = window.max(Duration::from_millis(1));
        Revalidating {
            inner,
            versions: Cache::builder().max_capacity(CAPACITY).time_to_live(ttl).build(),
            listings: Cache::builder().max_capacity(CAPACITY / 100).time_to_live(ttl).build(),
            off: window.is_zero(),
        }
    }

    /// A read found the object changed or gone: its version, and every listing that may name
    /// it, are asked for again next time.
    async fn changed<T>(&self, key: &ObjectKey, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if matches!(result, Err(StoreError::Changed | StoreError::NotFound)) {
            self.versions.invalidate(key).await;
            self.listings.invalidate_all();
        }
        result
    }
}

#[async_trait::async_trait]
impl Store for Revalidating {
    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta, StoreError> {
        if self.off {
            return self.inner.head(key).await;
        }
        if let Some(known) = self.versions.get(key).await {
            return known.ok_or(StoreError::NotFound);
        }
        let known = match self.inner.head(key).await {
            Ok(meta) => Some(meta),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e),
        };
        self.versions.insert(key.clone(), known.clone()).await;
        known.ok_or(StoreError::NotFound)
    }

    async fn read(&self, key: &ObjectKey, meta: &ObjectMeta, range: Range<u64>) -> Result<Bytes, StoreError> {
        let result = self.inner.read(key, meta, range).await;
        self.changed(key, result).await
    }

    async fn stream(&self, key: &ObjectKey, meta: &ObjectMeta, range: Range<u64>) -> Result<ByteStream, StoreError> {
        let result = self.inner.stream(key, meta, range).await;
        self.changed(key, result).await
    }

    async fn list(&self, prefix: &ObjectKey) -> Result<Vec<Listed>, StoreError> {
        self.list_cut(prefix, &super::uncut).await
    }

    /// A cut listing is the listing: it is kept and reused as one.
    async fn list_cut(&self, prefix: &ObjectKey, cuts: Cuts<'_>) -> Result<Vec<Listed>, StoreError> {
        if self.off {
            return self.inner.list_cut(prefix, cuts).await;
        }
        if let Some(listed) = self.listings.get(prefix).await {
            return Ok(listed.as_ref().clone());
        }
        let listed = self.inner.list_cut(prefix, cuts).await?;
        self.listings.insert(prefix.clone(), Arc::new(listed.clone())).await;
        Ok(listed)
    }

    /// An upload is seen at once by this process: the key's version and every listing are
    /// asked for again (other processes see it when their window ends).
    async fn put(&self, key: &ObjectKey, body: ByteStream) -> Result<u64, StoreError> {
        let result = self.inner.put(key, body).await;
        self.versions.invalidate(key).await;
        self.listings.invalidate_all();
        result
    }
}
