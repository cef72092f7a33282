//! `/-/stack.json`: gathers the members of a prefix (or one object) and hands them to
//! [`crate::stack`]. Headers only, read concurrently with a bound, each cached.

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use hyper::Response;

use super::respond::{self, Body, Caching};
use super::{ApiError, Ctx};
use std::collections::HashMap;

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
/// How much of a JPEG or PNG is read to learn its size.
const IMAGE_PREFIX: u64 = 64 * 1024;

/// The objects under `key` as a prefix (or the one object it names), and a digest of their keys
/// and versions: what stack.json and the DICOMweb catalog are built from and cached by.
pub async fn listing(state: &State, key: &ObjectKey) -> Result<(Vec<Listed>, String), ApiError> {
    let store = &state.store;
    let (listed, catalogs) = match store.head(key).await {
        Ok(meta) => (vec![Listed { key: key.clone(), meta }], Vec::new()),
        // A study catalog is no object of the prefix: it only feeds the index.
        Err(StoreError::NotFound) => store.list(key).await?.into_iter().partition(|l| !catalog::is_catalog(&l.key)),
        Err(e) => return Err(e.into()),
    };
    if listed.is_empty() {
        return Err(ApiError::not_found("no objects under this prefix"));
    }
    if listed.len() > 1 || !catalogs.is_empty() {
        take_catalogs(state, key, &listed, catalogs).await?;
    }
    let mut names: Vec<String> = listed.iter().map(|l| format!("{}\u{0}{}", l.key.as_str(), l.meta.etag)).collect();
    names.sort();
    let version = digest(&[names.join("\u{1}").as_bytes()]);
    Ok((listed, version))
}

/// Fills the index cache from the study catalogs a listing of `key` shows (or, for a series
/// folder, from its study folder's), for the listed objects whose version a catalog holds.
/// Nothing is read when every listed object's index is held already.
async fn take_catalogs(state: &State, key: &ObjectKey, listed: &[Listed], mut catalogs: Vec<Listed>) -> Result<(), ApiError> {
    let is_image = |l: &&Listed| !matches!(l.key.extension().as_deref(), Some("jpg" | "jpeg" | "png"));
    let missing = listed.iter().filter(is_image).any(|l| !state.caches.has_index(&ObjectId { key: l.key.clone(), meta: l.meta.clone() }));
    if !missing {
        return Ok(());
    }
    if catalogs.is_empty() && key.depth() > 1 {
        let parent = ObjectKey::from_segments(key.segments()[..key.depth() - 1].to_vec()).ok();
        if let Some(above) = parent.as_ref().and_then(catalog::key_in) {
            match state.store.head(&above).await {
                Ok(meta) => catalogs.push(Listed { key: above, meta }),
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let wanted: HashMap<&ObjectKey, &ObjectMeta> = listed.iter().map(|l| (&l.key, &l.meta)).collect();
    // A prefix of many studies shows many catalogs: read as many at once as headers are.
    stream::iter(&catalogs)
        .for_each_concurrent(CONCURRENCY, |listed_catalog| {
            let wanted = &wanted;
            async move {
                let object = ObjectId { key: listed_catalog.key.clone(), meta: listed_catalog.meta.clone() };
                state
                    .caches
                    .take_catalog(&object, async {
                        for (object, index) in catalog::covered(state.store.as_ref(), &state.pool, &state.limits, listed_catalog, wanted).await {
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
