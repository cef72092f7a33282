//! Writes a folder's catalog from what the store holds: list, index each object the way
//! `serve` would, put the catalog. Ingest, the upload route and `framegate catalog` share it.

use bytes::Bytes;
use futures_util::{StreamExt, stream};

use super::format::{self, Entry};
use crate::dicom::{Index, Limits};
use crate::key::ObjectKey;
use crate::pool::RenderPool;
use crate::store::{Store, StoreError};

/// Headers read at once while building: as many as `serve` reads.
const CONCURRENCY: usize = 16;

/// What one catalog holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Built {
    /// Objects listed under the folder (catalogs aside).
    pub listed: usize,
    /// Objects catalogued: those that index as images.
    pub catalogued: usize,
    /// Bytes of the catalog written.
    pub bytes: u64,
}

/// Why a catalog was not written.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot list the folder: {0}")]
    List(#[source] StoreError),
    #[error("cannot write the catalog: {0}")]
    Put(#[source] StoreError),
    #[error("{0}")]
    Key(String),
}

/// Writes the catalog of `folder` over every image object under it, at any depth, and answers
/// what it holds; a folder with no image objects gets none. Objects that are not images
/// (reports, JPEGs, deflated objects) are left out: `serve` reads them the old way. An object
/// replaced while this runs is caught by `serve`'s check of its version.
pub async fn write(store: &dyn Store, folder: &ObjectKey, limits: &Limits, pool: &RenderPool) -> Result<Built, BuildError> {
    let listed = store.list(folder).await.map_err(BuildError::List)?;
    let listed: Vec<_> = listed.into_iter().filter(|l| !super::is_catalog(&l.key) && l.key.depth() > folder.depth()).collect();
    let count = listed.len();
    let entries: Vec<Entry> = stream::iter(listed)
        .map(|l| async move {
            if matches!(l.key.extension().as_deref(), Some("jpg" | "jpeg" | "png")) {
                return None;
            }
            let index = Index::load(store, &l.key, &l.meta, limits, pool).await.ok()?;
            let (header, encapsulated) = index.stored_header()?;
            let name = l.key.segments()[folder.depth()..].join("/");
            let entry = Entry { name, size: l.meta.size, etag: l.meta.etag, header, encapsulated: encapsulated.map(|(frames, end)| (frames.to_vec(), end)) };
            format::fits(&entry).then_some(entry)
        })
        .buffer_unordered(CONCURRENCY)
        .filter_map(|e| async move { e })
        .collect()
        .await;
    if entries.is_empty() {
        return Ok(Built { listed: count, ..Built::default() });
    }
    let mut entries = entries;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let bytes = Bytes::from(format::encode(&entries));
    let key = super::key_in(folder).ok_or_else(|| BuildError::Key("the folder's name is too long for a catalog beside it".into()))?;
    let size = bytes.len() as u64;
    let body: crate::store::ByteStream = Box::pin(stream::once(async move { Ok(bytes) }));
    store.put(&key, body).await.map_err(BuildError::Put)?;
    Ok(Built { listed: count, catalogued: entries.len(), bytes: size })
}

/// Writes the catalog of every study folder under `root` that `shard` takes, `jobs` at once,
/// telling `progress` how many study folders there are and when each is done (as ingest tells
/// of files). Study folders are told apart by [`super::study_folder`].
pub async fn backfill(
    store: &dyn Store,
    root: &ObjectKey,
    shard: crate::ingest::Shard,
    jobs: usize,
    limits: &Limits,
    pool: &RenderPool,
    progress: &dyn crate::ingest::Progress,
) -> Result<Vec<(ObjectKey, Result<Built, BuildError>)>, BuildError> {
    let listed = store.list(root).await.map_err(BuildError::List)?;
    let mut folders: Vec<ObjectKey> =
        listed.iter().filter(|l| !super::is_catalog(&l.key)).map(|l| super::study_folder(&l.key, root)).filter(|f| shard.takes_name(&f.as_str())).collect();
    folders.sort_by_key(ObjectKey::as_str);
    folders.dedup();
    progress.found(folders.len() as u64);
    Ok(stream::iter(folders)
        .map(|folder| async move {
            let result = write(store, &folder, limits, pool).await;
            progress.done(0);
            (folder, result)
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await)
}
