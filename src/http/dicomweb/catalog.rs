//! The study index behind DICOMweb: a prefix's listing and each DICOM object's header, read by
//! range through the index cache. No database: the store is the index.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use moka::future::Cache;
use serde_json::{Map, Value};

use super::json;
use crate::State;
use crate::deid::Policy;
use crate::cache::ObjectId;
use crate::dicom::index::Header;
use crate::dicom::{DicomError, Indexed, LoadError};
use dicom_core::VR;
use dicom_object::InMemDicomObject;
use crate::http::{ApiError, Ctx, frame, stack};

/// Headers read at once while indexing a study: enough to hide S3 latency, few enough to leave
/// the store to other requests (as stack.json does).
const CONCURRENCY: usize = 16;
/// Instances built in one pool job: enough that the hand-offs cost little next to the work,
/// few enough (a few milliseconds of work) that a render queued behind them barely waits.
const BATCH: usize = 32;

/// One DICOM object of a prefix, as DICOMweb shows it under the server's `--raw-dicom` policy.
#[derive(Debug)]
pub struct Instance {
    /// The object version.
    pub object: ObjectId,
    /// Study Instance UID as shown (a pseudonym unless the policy is `original`).
    pub study: String,
    /// Series Instance UID as shown.
    pub series: String,
    /// SOP Instance UID as shown.
    pub sop: String,
    /// The shown data set in DICOM JSON; `BulkDataURI`s are relative to the DICOMweb root.
    pub json: Map<String, Value>,
    /// `json`, serialized once.
    pub body: Bytes,
    /// Number of frames.
    pub frames: u32,
    /// Series Number and Instance Number, for ordering.
    order: (i64, i64),
}

/// The DICOM objects of a prefix, ordered by study, series and instance.
#[derive(Debug)]
pub struct Catalog {
    /// Every instance.
    pub instances: Vec<Arc<Instance>>,
    /// A digest of the listing (keys and versions): equal catalogs have equal versions.
    pub version: String,
}

impl Catalog {
    /// The instance named by the three UIDs, or a 404 naming what was not found.
    pub fn instance(&self, study: &str, series: &str, sop: &str) -> Result<&Arc<Instance>, ApiError> {
        self.instances.iter().find(|i| i.sop == sop && i.series == series && i.study == study).ok_or_else(|| ApiError::not_found("no such instance in this study and series"))
    }
}

/// The caches DICOMweb adds: per object version and per listing, bounded in bytes.
#[derive(Clone)]
pub struct Caches {
    /// Each object version as an instance under a policy (by its fingerprint); `None` for
    /// objects that are not DICOM instances it serves.
    instances: Cache<(ObjectId, String), Option<Arc<Instance>>>,
    /// Catalogs, by prefix and listing version.
    catalogs: Cache<String, Arc<Catalog>>,
    /// Finished answers (metadata, searches), by their ETag: the warm path of a large study.
    pub(super) bodies: Cache<String, Bytes>,
}

impl Caches {
    /// Caches of about `bytes` each.
    pub fn new(bytes: u64) -> Self {
        let weight = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Caches {
            instances: Cache::builder()
                .max_capacity(bytes)
                .weigher(move |k: &(ObjectId, String), v: &Option<Arc<Instance>>| weight(k.0.key.as_str().len() + k.1.len() + 64 + v.as_ref().map_or(0, |i| 3 * i.body.len())))
                .build(),
            catalogs: Cache::builder().max_capacity(bytes / 4).weigher(move |k: &String, v: &Arc<Catalog>| weight(k.len() + 64 * v.instances.len())).build(),
            bodies: Cache::builder().max_capacity(bytes).weigher(move |k: &String, v: &Bytes| weight(k.len() + v.len())).build(),
        }
    }
}

/// The catalog of the request's prefix (or of the one object its key names).
pub async fn catalog(ctx: &Ctx<'_>) -> Result<Arc<Catalog>, ApiError> {
    let (listed, version) = stack::listing(ctx.state, &ctx.key).await?;
    let state = ctx.state;
    let policy = ctx.policy();
    let fingerprint = policy.fingerprint();
    let build = async {
        // Instances built before come from their cache. The others are indexed (from a study
        // catalog, or by their headers) and built BATCH at a time on the pool: at thousands of
        // instances, handing each to a pool thread and back cost more than building it.
        let mut instances = Vec::new();
        let mut unbuilt = Vec::new();
        for l in listed {
            if matches!(l.key.extension().as_deref(), Some("jpg" | "jpeg" | "png")) {
                continue;
            }
            let object = ObjectId { key: l.key, meta: l.meta };
            match state.dicomweb.instances.get(&(object.clone(), fingerprint.clone())).await {
                Some(built) => instances.extend(built),
                None => unbuilt.push(object),
            }
        }
        let indexed: Vec<(ObjectId, Indexed)> = stream::iter(unbuilt)
            .map(|object| async move { Ok::<_, ApiError>(indexed(state, &object).await?.map(|i| (object, i))) })
            .buffer_unordered(CONCURRENCY)
            .try_filter_map(|i| async move { Ok(i) })
            .try_collect()
            .await?;
        let batches: Vec<Vec<(ObjectId, Indexed)>> = indexed.chunks(BATCH).map(<[_]>::to_vec).collect();
        let built: Vec<Vec<(ObjectId, Option<Arc<Instance>>)>> = stream::iter(batches)
            .map(|batch| {
                let policy = policy.clone();
                async move {
                    let job = move || batch.into_iter().map(|(object, indexed)| Ok((object.clone(), built(object, indexed, &policy)?))).collect::<Result<Vec<_>, DicomError>>();
                    Ok::<_, ApiError>(state.pool.run(job).await??)
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        for (object, instance) in built.into_iter().flatten() {
            state.dicomweb.instances.insert((object, fingerprint.clone()), instance.clone()).await;
            instances.extend(instance);
        }
        instances.sort_by(|a, b| {
            (&a.study, a.order.0, &a.series, a.order.1).cmp(&(&b.study, b.order.0, &b.series, b.order.1)).then_with(|| natord::compare(&a.object.key.as_str(), &b.object.key.as_str()))
        });
        Ok::<_, ApiError>(Arc::new(Catalog { instances, version: version.clone() }))
    };
    let key = format!("{}\u{0}{version}\u{0}{fingerprint}", ctx.key.as_str());
    Ok(state.dicomweb.catalogs.try_get_with(key, build).await?)
}

/// The object as indexed; `None` for what is not served as an instance (reports too large to
/// hold, stray files, damaged objects).
async fn indexed(state: &State, object: &ObjectId) -> Result<Option<Indexed>, ApiError> {
    match frame::indexed(state, object).await {
        Ok(indexed) => Ok(Some(indexed)),
        Err(e) => match &*e {
            LoadError::Dicom(_) => Ok(None),
            _ => Err(ApiError::from(e)),
        },
    }
}

/// An indexed object as an instance under `policy`: an image, or an object without Pixel Data
/// where the policy serves those. CPU work: run on the pool.
fn built(object: ObjectId, indexed: Indexed, policy: &Policy) -> Result<Option<Arc<Instance>>, DicomError> {
    let (frames, built) = match indexed {
        Indexed::Image(index) => {
            // A deflated object's header is not kept: it is not served as an instance.
            let Some(header) = index.header() else { return Ok(None) };
            let (frames, transfer_syntax) = (index.frame_count(), index.syntax().uid());
            let header = header.parse()?;
            let pixel_vr = pixel_vr(&header);
            (frames, describe(header.obj, Some(pixel_vr), policy, frames, transfer_syntax))
        }
        Indexed::HeaderOnly(_) if !policy.serves_objects_without_pixels() => return Ok(None),
        // No frames and no Pixel Data: the instance is its data set.
        Indexed::HeaderOnly(whole) => {
            let whole = whole.parse()?;
            (0, describe(whole.obj, None, policy, 0, whole.ts.uid()))
        }
    };
    Ok(built.map(|(study, series, sop, json, order)| {
        let body = Bytes::from(serde_json::to_vec(&json).unwrap_or_default());
        Arc::new(Instance { object, study, series, sop, json, body, frames, order })
    }))
}

type Described = (String, String, String, Map<String, Value>, (i64, i64));

/// The VR an image's Pixel Data is shown with.
fn pixel_vr(header: &Header) -> VR {
    let bits_allocated = header.obj.get(dicom_dictionary_std::tags::BITS_ALLOCATED).and_then(|e| e.to_int::<u16>().ok()).unwrap_or(16);
    let explicit = header.ts.uid() != dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.uid();
    header.pixel.stated_vr(explicit, bits_allocated)
}

/// The shown data set `obj` in DICOM JSON, with its UIDs; `None` without the three UIDs that
/// address an instance. `pixel_vr` is `None` for an object without Pixel Data. CPU work: run
/// on the pool.
fn describe(obj: InMemDicomObject, pixel_vr: Option<VR>, policy: &Policy, frames: u32, ts: &str) -> Option<Described> {
    let shown = policy.shown(obj);
    let text = |tag| shown.get(tag).and_then(|e| e.to_str().ok()).map(|v| v.trim_end_matches(['\0', ' ']).trim().to_owned()).filter(|v| !v.is_empty());
    let number = |tag| text(tag).and_then(|v| v.parse::<i64>().ok()).unwrap_or(i64::MAX);
    use dicom_dictionary_std::tags;
    // An instance is addressed by its UIDs: one that is not a UID could be listed but never
    // retrieved, so it is not listed.
    let uid = |tag| text(tag).filter(|v| crate::dicom::is_uid(v));
    let (study, series, sop) = (uid(tags::STUDY_INSTANCE_UID)?, uid(tags::SERIES_INSTANCE_UID)?, uid(tags::SOP_INSTANCE_UID)?);
    let order = (number(tags::SERIES_NUMBER), number(tags::INSTANCE_NUMBER));
    let mut object = json::object(&shown, &format!("studies/{study}/series/{series}/instances/{sop}/bulk/"));
    // Where the pixels are, and in which syntax they are stored (what `transfer-syntax=*` gives).
    object.insert("00083002".into(), json::attr("UI", vec![Value::from(ts)]));
    if !object.contains_key("00280008") && frames > 1 {
        object.insert("00280008".into(), json::attr("IS", vec![Value::from(frames)]));
    }
    if let Some(pixel_vr) = pixel_vr
        && policy.serves_bulk()
    {
        object.insert("7FE00010".into(), serde_json::json!({ "vr": pixel_vr.to_string(), "BulkDataURI": format!("studies/{study}/series/{series}/instances/{sop}/bulk/7FE00010") }));
    }
    Some((study, series, sop, object, order))
}
