//! A stored catalog against the listing `serve` already made: only entries whose key, size and
//! version the listing shows are taken; the rest is read the old way.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::join_all;

use super::format::{self, Entry, FormatError};
use crate::cache::ObjectId;
use crate::dicom::{Index, Limits};
use crate::key::ObjectKey;
use crate::pool::RenderPool;
use crate::store::{Listed, ObjectMeta, Store};

/// Largest catalog read: about 100,000 instances of CT headers.
pub const MAX_CATALOG_BYTES: u64 = 512 << 20;
/// Pool jobs a catalog's entries are indexed in, at most: the CPU work of a large study spread
/// over the pool's threads, without filling its queue.
const JOBS: usize = 8;

/// The objects of a listing a catalog covers, each with its index.
pub type Covered = Vec<(ObjectId, Arc<Index>)>;

/// The entries of the catalog `catalog` (as listed) that `wanted` (objects of the listing,
/// with the version listed) shows unchanged, indexed. A catalog that cannot be read, is too
/// large, or has another format gives nothing, with a warning that names no object: the caller
/// reads everything the old way.
pub async fn covered(store: &dyn Store, pool: &RenderPool, limits: &Limits, catalog: &Listed, wanted: &HashMap<&ObjectKey, &ObjectMeta>) -> Covered {
    let entries = entries(store, pool, catalog).await;
    covered_by(entries, &catalog.key, pool, limits, wanted).await
}

/// The entries of the catalog `catalog` (as listed), read with one GET; none, with a warning
/// that names no object, when it cannot be read, is too large or has another format.
pub async fn entries(store: &dyn Store, pool: &RenderPool, catalog: &Listed) -> Vec<Entry> {
    if catalog.meta.size > MAX_CATALOG_BYTES {
        tracing::warn!(bytes = catalog.meta.size, "study catalog is too large; ignored");
        return Vec::new();
    }
    let bytes = match store.read(&catalog.key, &catalog.meta, 0..catalog.meta.size).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!(error = %e, "study catalog could not be read; ignored");
            return Vec::new();
        }
    };
    match pool.run(move || format::decode(&bytes)).await {
        Ok(Ok(entries)) => entries,
        Ok(Err(e @ FormatError::UnknownVersion(_))) => {
            tracing::warn!(error = %e, "study catalog has another format; ignored, rebuild it with this version's `framegate catalog`");
            Vec::new()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "study catalog ignored");
            Vec::new()
        }
        Err(e) => {
            tracing::warn!(error = %e, "study catalog not indexed");
            Vec::new()
        }
    }
}

/// The entries of the catalog `catalog` (its key) that `wanted` shows unchanged, indexed.
pub async fn covered_by(entries: Vec<Entry>, catalog: &ObjectKey, pool: &RenderPool, limits: &Limits, wanted: &HashMap<&ObjectKey, &ObjectMeta>) -> Covered {
    let current: Vec<(ObjectId, Entry)> = entries
        .into_iter()
        .filter_map(|entry| {
            let key = key_of(catalog, &entry)?;
            let meta = wanted.get(&key)?;
            (meta.size == entry.size && meta.etag == entry.etag).then(|| (ObjectId { key, meta: (*meta).clone() }, entry))
        })
        .collect();
    let jobs = chunks(current).into_iter().map(|chunk| {
        let limits = *limits;
        pool.run(move || {
            chunk.into_iter().filter_map(|(object, e)| Index::from_stored(e.header, e.size, e.encapsulated, &limits).ok().map(|index| (object, Arc::new(index)))).collect::<Covered>()
        })
    });
    // A chunk the pool turned away is read the old way.
    join_all(jobs).await.into_iter().filter_map(Result::ok).flatten().collect()
}

/// Where a listing of the objects of `entries` (the catalog `catalog`) may be cut: every
/// `every`th key in order, so that each range between two cuts is about one page of a listing.
/// The cuts sit half a page into each page: a listing's first page ends near the `every`th
/// key, and a cut there would leave a range of a few keys.
pub fn cuts(entries: &[Entry], catalog: &ObjectKey, every: usize) -> Vec<ObjectKey> {
    let every = every.max(2);
    let mut keys: Vec<ObjectKey> = entries.iter().filter_map(|e| key_of(catalog, e)).collect();
    keys.sort_by_cached_key(ObjectKey::as_str);
    keys.into_iter().skip(every / 2 - 1).step_by(every).collect()
}

/// The full key of a catalogued object: its name is relative to the catalog's folder.
fn key_of(catalog: &ObjectKey, entry: &Entry) -> Option<ObjectKey> {
    let folder = &catalog.segments()[..catalog.depth() - 1];
    ObjectKey::from_segments(folder.iter().cloned().chain(entry.name.split('/').map(str::to_owned)).collect()).ok()
}

fn chunks<T>(items: Vec<T>) -> Vec<Vec<T>> {
    let size = items.len().div_ceil(JOBS).max(1);
    let mut out = Vec::with_capacity(JOBS);
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        out.push(items.by_ref().take(size).collect());
    }
    out
}
