//! A store wrapper that counts requests, bytes, errors and latency for `/metrics`.

use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::TryStreamExt;

use super::{ByteStream, Cuts, Listed, ObjectMeta, Store, StoreError};
use crate::key::ObjectKey;
use crate::metrics::{Metrics, OpLabel, StoreLabels};

/// Wraps any store with metrics.
pub struct Metered {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl Metered {
    /// Metrics around `inner`.
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        Metered { inner, metrics }
    }

    fn record<T>(&self, op: &'static str, started: Instant, result: &Result<T, StoreError>) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(StoreError::NotFound) => "not_found",
            Err(StoreError::Changed) => "changed",
            Err(StoreError::Timeout) => "timeout",
            Err(_) => "error",
        };
        self.metrics.store_requests.get_or_create(&StoreLabels { op, outcome }).inc();
        self.metrics.store_seconds.get_or_create(&OpLabel { op }).observe(started.elapsed().as_secs_f64());
    }
}

#[async_trait::async_trait]
impl Store for Metered {
    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta, StoreError> {
        let started = Instant::now();
        let result = self.inner.head(key).await;
        self.record("head", started, &result);
        result
    }

    async fn read(&self, key: &ObjectKey, meta: &ObjectMeta, range: Range<u64>) -> Result<Bytes, StoreError> {
        let started = Instant::now();
        let result = self.inner.read(key, meta, range).await;
        self.record("read", started, &result);
        if let Ok(bytes) = &result {
            self.metrics.store_bytes.get_or_create(&OpLabel { op: "read" }).inc_by(bytes.len() as u64);
        }
        result
    }

    async fn stream(&self, key: &ObjectKey, meta: &ObjectMeta, range: Range<u64>) -> Result<ByteStream, StoreError> {
        let started = Instant::now();
        let result = self.inner.stream(key, meta, range).await;
        self.record("stream", started, &result);
        let counter = self.metrics.store_bytes.get_or_create(&OpLabel { op: "stream" }).clone();
        result.map(|stream| -> ByteStream {
            Box::pin(stream.inspect_ok(move |chunk| {
                counter.inc_by(chunk.len() as u64);
            }))
        })
    }

    async fn list(&self, prefix: &ObjectKey) -> Result<Vec<Listed>, StoreError> {
        let started = Instant::now();
        let result = self.inner.list(prefix).await;
        self.record("list", started, &result);
        result
    }

    async fn list_cut(&self, prefix: &ObjectKey, cuts: Cuts<'_>) -> Result<Vec<Listed>, StoreError> {
        let started = Instant::now();
        let result = self.inner.list_cut(prefix, cuts).await;
        self.record("list", started, &result);
        result
    }

    async fn put(&self, key: &ObjectKey, body: ByteStream) -> Result<u64, StoreError> {
        let started = Instant::now();
        let result = self.inner.put(key, body).await;
        self.record("put", started, &result);
        if let Ok(written) = &result {
            self.metrics.store_bytes.get_or_create(&OpLabel { op: "put" }).inc_by(*written);
        }
        result
    }
}
