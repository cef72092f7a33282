//! `/-/stack.json`: gathers the members of a prefix (or one object) and hands them to
//! [`crate::stack`]. Headers only, read concurrently with a bound, each cached.

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use hyper::Response;

use super::respond::{self, Body, Caching};
use super::{ApiError, Ctx};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::BoxFuture;

use crate::State;
use crate::catalog;
use crate::cache::{ObjectId, digest};
use crate::key::ObjectKey;
use crate::dicom::LoadError;
use crate::stack::{Member, manifest};
use crate::store::{Listed, ObjectMeta, StoreError};

/// Headers read at once while indexing a series: enough to hide S3 latency, few enough to
/// leave the store to other requests.
const CONCURRENCY: usize = 16;
/// Keys between two cuts of a long listing: one page of S3's.
const CUT_EVERY: usize = 1000;
/// How much of a JPEG or PNG is read to learn its size.
const IMAGE_PREFIX: u64 = 64 * 1024;

/// The objects under `key` as a prefix (or the one object it names), and a digest of their keys
/// and versions: what stack.json and the DICOMweb catalog are built from and cached by.
pub async fn listing(state: &State, key: &ObjectKey) -> Result<(Vec<Listed>, String), ApiError> {
    let store = &state.store;
    // What cutting a long listing learnt of the study catalog, handed on to the index.
    let found: Mutex<Option<Found>> = Mutex::new(None);
    let (listed, catalogs) = match store.head(key).await {
        Ok(meta) => (vec![Listed { key: key.clone(), meta }], Vec::new()),
        // A study catalog is no object of the prefix: it only feeds the index.
        Err(StoreError::NotFound) => {
            let found = &found;
            let cuts = move |page: Vec<Listed>| -> BoxFuture<'_, Vec<ObjectKey>> { Box::pin(cuts(state, key, page, found)) };
            store.list_cut(key, &cuts).await?.into_iter().partition(|l| !catalog::is_catalog(&l.key))
        }
        Err(e) => return Err(e.into()),
    };
    if listed.is_empty() {
        return Err(ApiError::not_found("no objects under this prefix"));
    }
    if listed.len() > 1 || !catalogs.is_empty() {
        let found = found.into_inner().unwrap_or_else(PoisonError::into_inner);
        take_catalogs(state, key, &listed, catalogs, found).await?;
    }
    let mut names: Vec<String> = listed.iter().map(|l| format!("{}\u{0}{}", l.key.as_str(), l.meta.etag)).collect();
    names.sort();
    let version = digest(&[names.join("\u{1}").as_bytes()]);
    Ok((listed, version))
}

/// The study catalog a long listing was cut by: the one its first page showed or its study
/// folder's (`None`: there is none), and its entries when they were read to cut it.
struct Found {
    catalog: Option<Listed>,
    entries: Option<Vec<catalog::format::Entry>>,
}

/// Where a listing of `key`, whose first page is `page`, may be cut: from the study catalog the
/// page shows (or, for a series folder, its study folder's), each version read once; what was
/// found is left in `found` for the index. None when there is no catalog.
async fn cuts(state: &State, key: &ObjectKey, page: Vec<Listed>, found: &Mutex<Option<Found>>) -> Vec<ObjectKey> {
    let shown = page.into_iter().find(|l| catalog::is_catalog(&l.key) && l.key.depth() == key.depth() + 1);
    let catalog = match shown {
        Some(shown) => Some(shown),
        None => match parent_catalog(state, key).await {
            Ok(above) => above,
            // The index asks again, and answers the error.
            Err(_) => return Vec::new(),
        },
    };
    let keep = |entries| *found.lock().unwrap_or_else(PoisonError::into_inner) = Some(Found { catalog: catalog.clone(), entries });
    let Some(listed) = catalog.as_ref() else {
        keep(None);
        return Vec::new();
    };
    let version = ObjectId { key: listed.key.clone(), meta: listed.meta.clone() };
    if let Some(cuts) = state.caches.catalog_cuts(&version).await {
        keep(None);
        return cuts.as_ref().clone();
    }
    let entries = catalog::entries(state.store.as_ref(), &state.pool, listed).await;
    let cuts = catalog::cuts(&entries, &listed.key, CUT_EVERY);
    state.caches.keep_catalog_cuts(version, Arc::new(cuts.clone())).await;
    keep(Some(entries));
    cuts
}

/// The study folder's catalog of the series folder `key`, if there is one.
async fn parent_catalog(state: &State, key: &ObjectKey) -> Result<Option<Listed>, StoreError> {
    if key.depth() < 2 {
        return Ok(None);
    }
    let parent = ObjectKey::from_segments(key.segments()[..key.depth() - 1].to_vec()).ok();
    let Some(above) = parent.as_ref().and_then(catalog::key_in) else { return Ok(None) };
    match state.store.head(&above).await {
        Ok(meta) => Ok(Some(Listed { key: above, meta })),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Fills the index cache from the study catalogs a listing of `key` shows (or, for a series
/// folder, from its study folder's), for the listed objects whose version a catalog holds; what
/// cutting the listing `found` is not asked or read again. Nothing is read when every listed
/// object's index is held already.
async fn take_catalogs(state: &State, key: &ObjectKey, listed: &[Listed], mut catalogs: Vec<Listed>, found: Option<Found>) -> Result<(), ApiError> {
    let is_image = |l: &&Listed| !matches!(l.key.extension().as_deref(), Some("jpg" | "jpeg" | "png"));
    let missing = listed.iter().filter(is_image).any(|l| !state.caches.has_index(&ObjectId { key: l.key.clone(), meta: l.meta.clone() }));
    if !missing {
        return Ok(());
    }
    let (above, entries) = match found {
        Some(Found { catalog, entries }) => (catalog, entries),
        None if catalogs.is_empty() => (parent_catalog(state, key).await?, None),
        None => (None, None),
    };
    if catalogs.is_empty() {
        catalogs.extend(above.clone());
    }
    // The entries read to cut the listing, for the catalog they came from.
    let read = Mutex::new(above.zip(entries));
    let read = &read;
    let wanted: HashMap<&ObjectKey, &ObjectMeta> = listed.iter().map(|l| (&l.key, &l.meta)).collect();
    // A prefix of many studies shows many catalogs: read as many at once as headers are.
    stream::iter(&catalogs)
        .for_each_concurrent(CONCURRENCY, |listed_catalog| {
            let wanted = &wanted;
            async move {
                let object = ObjectId { key: listed_catalog.key.clone(), meta: listed_catalog.meta.clone() };
                // The catalog read to cut the listing, if it is this one.
                let entries =
                    read.lock().unwrap_or_else(PoisonError::into_inner).take_if(|(found, _)| found.key == listed_catalog.key && found.meta == listed_catalog.meta).map(|(_, e)| e);
                state
                    .caches
                    .take_catalog(&object, async {
                        let covered = match entries {
                            Some(entries) => catalog::covered_by(entries, &listed_catalog.key, &state.pool, &state.limits, wanted).await,
                            None => catalog::covered(state.store.as_ref(), &state.pool, &state.limits, listed_catalog, wanted).await,
                        };
                        for (object, index) in covered {
                            state.caches.offer_index(object, index).await;
                        }
                    })
                    .await;
            }
        })
        .await;
    Ok(())
}

/// Serves `{key}/-/stack.json`.
pub async fn serve(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let (listed, version) = listing(ctx.state, &ctx.key).await?;
    // The policy decides what the manifest says of a series (its description): a manifest made
    // under one policy is never another's.
    let policy = ctx.policy();
    let etag = format!("\"s{}\"", &digest(&[version.as_bytes(), policy.fingerprint().as_bytes()])[..32]);
    let caching = Caching { etag, max_age: ctx.max_age(), shared: true };
    if caching.not_modified(ctx.headers) {
        return Ok(caching.not_modified_response());
    }
    let build = async {
        let members = members(ctx.state, listed).await?;
        // Ordering and writing out tens of thousands of members is CPU work.
        let prefix = ctx.key.clone();
        let json = ctx.state.pool.run(move || serde_json::to_vec(&manifest(&prefix, members, &|text| policy.series_description(text)))).await?;
        Ok::<_, ApiError>(Bytes::from(json.unwrap_or_default()))
    };
    let body = ctx.state.caches.stack(format!("{}\u{0}{}", ctx.key.as_str(), caching.etag), build).await?;
    Ok(respond::bytes("application/json", body, &caching, ctx.head))
}

/// The listed objects that are DICOM images or JPEG/PNG, each with its index or size: what a
/// stack and a reformat are built from.
pub async fn members(state: &State, listed: Vec<Listed>) -> Result<Vec<Member>, ApiError> {
    let members: Vec<Member> = stream::iter(listed).map(|listed| member(state, listed)).buffer_unordered(CONCURRENCY).try_filter_map(|m| async move { Ok(m) }).try_collect().await?;
    if members.is_empty() {
        return Err(ApiError::not_found("no DICOM, JPEG or PNG objects under this prefix"));
    }
    Ok(members)
}

/// One listed object as a stack member; `None` for objects that are neither DICOM images nor
/// JPEG/PNG (reports, stray files), which a stack leaves out.
async fn member(state: &State, listed: Listed) -> Result<Option<Member>, ApiError> {
    let object = ObjectId { key: listed.key, meta: listed.meta };
    if matches!(object.key.extension().as_deref(), Some("jpg" | "jpeg" | "png")) {
        let size = state
            .caches
            .image_size(&object, async {
                let head = state.store.read(&object.key, &object.meta, 0..object.meta.size.min(IMAGE_PREFIX)).await?;
                Ok::<_, StoreError>(imagesize::blob_size(&head).ok().map(|s| (s.width as u32, s.height as u32)))
            })
            .await
            .map_err(|e| ApiError::from(&*e))?;
        return Ok(size.map(|(width, height)| Member::Image { key: object.key, width, height }));
    }
    match super::frame::index_of(state, &object).await {
        Ok(index) => Ok(Some(Member::Dicom { key: object.key, meta: object.meta, index })),
        Err(e) => match &*e {
            LoadError::Dicom(_) => Ok(None),
            LoadError::Store(_) | LoadError::Pool(_) => Err(e.into()),
        },
    }
}
