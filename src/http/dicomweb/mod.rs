//! DICOMweb (QIDO-RS and WADO-RS, PS3.18) under `/v1/{token}/{prefix}/-/dicomweb/`: a token
//! for a study folder is a DICOMweb root that OHIF, Cornerstone and dicomweb-client open.
//!
//! Everything stands on the existing layers: the store's listing and ranged reads, the index
//! cache ([`catalog`]), the one data-set reader and de-identification ([`json`]), the frame
//! route's render path and cache, and the raw route's `--raw-dicom` policy ([`wado`]). UIDs in
//! URLs are the ones metadata shows (pseudonyms unless the policy is `original`) and are looked
//! up in the prefix's catalog, never reversed.

mod catalog;
mod json;
mod parts;
mod qido;
mod wado;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

pub use catalog::Caches;

use crate::cache::digest;
use crate::coding::Coding;
use crate::http::respond::{self, Body, Caching};
use crate::http::{ApiError, Ctx};

/// The media type of QIDO and metadata answers.
const DICOM_JSON: &str = "application/dicom+json";
use crate::dicom::MAX_UID;

/// The entity a search returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Study,
    Series,
    Instance,
}

/// The UIDs a path names, outermost first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scope<'a> {
    study: Option<&'a str>,
    series: Option<&'a str>,
    sop: Option<&'a str>,
}

/// A [`Scope`] that owns its UIDs, for work that outlives the request's path.
struct OwnedScope {
    study: Option<String>,
    series: Option<String>,
    sop: Option<String>,
}

impl Scope<'_> {
    fn to_owned(self) -> OwnedScope {
        OwnedScope { study: self.study.map(str::to_owned), series: self.series.map(str::to_owned), sop: self.sop.map(str::to_owned) }
    }
}

impl OwnedScope {
    fn borrowed(&self) -> Scope<'_> {
        Scope { study: self.study.as_deref(), series: self.series.as_deref(), sop: self.sop.as_deref() }
    }
}

/// What a DICOMweb path asks for.
#[derive(Debug, PartialEq, Eq)]
enum Resource<'a> {
    /// The OHIF data source configuration for this root.
    OhifConfig,
    /// QIDO-RS.
    Search(Level, Scope<'a>),
    /// WADO-RS metadata of a study, series or instance.
    Metadata(Scope<'a>),
    /// WADO-RS: one instance, as a DICOM object.
    Instance(Scope<'a>),
    /// WADO-RS: frames of an instance, as a comma-separated list.
    Frames(Scope<'a>, &'a str),
    /// Rendered (or thumbnail, when `true`) instance, or one of its frames.
    Rendered(Scope<'a>, Option<&'a str>, bool),
    /// A bulk data value of an instance, by tag path.
    Bulk(Scope<'a>, &'a str),
    /// A resource of the standard framegate does not serve (whole studies and series, their
    /// rendered forms).
    Unsupported(&'static str),
}

fn uid(s: &str) -> Result<&str, ApiError> {
    if crate::dicom::is_uid(s) { Ok(s) } else { Err(ApiError::bad_request(format!("invalid UID {:?}", truncated(s)))) }
}

/// At most 64 characters of a bad value, for an error message.
fn truncated(s: &str) -> String {
    s.chars().take(MAX_UID).collect()
}

fn parse<'a>(segments: &[&'a str]) -> Result<Resource<'a>, ApiError> {
    use Resource::*;
    let none = Scope::default();
    Ok(match segments {
        ["ohif.json"] => OhifConfig,
        ["studies"] => Search(Level::Study, none),
        ["series"] => Search(Level::Series, none),
        ["instances"] => Search(Level::Instance, none),
        ["studies", st, rest @ ..] => {
            let study = Scope { study: Some(uid(st)?), ..none };
            match rest {
                [] => Unsupported("whole studies are not retrieved: ask for their metadata and frames"),
                ["metadata"] => Metadata(study),
                ["series"] => Search(Level::Series, study),
                ["instances"] => Search(Level::Instance, study),
                ["rendered" | "thumbnail"] => Unsupported("studies are not rendered: ask for an instance or frame"),
                ["series", se, rest @ ..] => {
                    let series = Scope { series: Some(uid(se)?), ..study };
                    match rest {
                        [] => Unsupported("whole series are not retrieved: ask for their metadata and frames"),
                        ["metadata"] => Metadata(series),
                        ["instances"] => Search(Level::Instance, series),
                        ["rendered" | "thumbnail"] => Unsupported("series are not rendered: ask for an instance or frame"),
                        ["instances", sop, rest @ ..] => {
                            let one = Scope { sop: Some(uid(sop)?), ..series };
                            match rest {
                                [] => Instance(one),
                                ["metadata"] => Metadata(one),
                                ["rendered"] => Rendered(one, None, false),
                                ["thumbnail"] => Rendered(one, None, true),
                                ["frames", list] => Frames(one, list),
                                ["frames", list, "rendered"] => Rendered(one, Some(list), false),
                                ["frames", list, "thumbnail"] => Rendered(one, Some(list), true),
                                ["bulk", path] => Bulk(one, path),
                                _ => return Err(ApiError::not_found("no such DICOMweb resource")),
                            }
                        }
                        _ => return Err(ApiError::not_found("no such DICOMweb resource")),
                    }
                }
                _ => return Err(ApiError::not_found("no such DICOMweb resource")),
            }
        }
        _ => return Err(ApiError::not_found("no such DICOMweb resource")),
    })
}

/// Serves a DICOMweb request; `path` is the whole request path.
pub async fn serve(ctx: &Ctx<'_>, path: &str) -> Result<Response<Body>, ApiError> {
    const MARK: &str = "/-/dicomweb";
    let at = path.find(MARK).ok_or_else(|| ApiError::not_found("no such DICOMweb resource"))? + MARK.len();
    let segments: Vec<&str> = path[at..].split('/').filter(|s| !s.is_empty()).collect();
    let root = Root::of(ctx, &path[..at]);
    match parse(&segments)? {
        Resource::OhifConfig => ohif_config(ctx, &root),
        Resource::Search(level, scope) => qido::serve(ctx, &root, level, scope).await,
        Resource::Metadata(scope) => metadata(ctx, &root, scope).await,
        Resource::Instance(scope) => wado::instance(ctx, scope).await,
        Resource::Frames(scope, list) => wado::frames(ctx, scope, list).await,
        Resource::Rendered(scope, frame, thumbnail) => wado::rendered(ctx, scope, frame, thumbnail).await,
        Resource::Bulk(scope, tag_path) => wado::bulk(ctx, scope, tag_path).await,
        Resource::Unsupported(message) => Err(ApiError::new(StatusCode::NOT_ACCEPTABLE, message)),
    }
}

/// The DICOMweb root as the client reached it, which `BulkDataURI`s and the OHIF
/// configuration name.
pub struct Root {
    /// `http://host/v1/{token}/{prefix}/-/dicomweb`, without a trailing slash.
    url: String,
}

impl Root {
    fn of(ctx: &Ctx<'_>, path: &str) -> Root {
        // Behind a TLS-terminating proxy the scheme is what the proxy says; a client that lies
        // about it only misleads itself.
        let scheme = match ctx.headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) {
            Some("https") => "https",
            _ => "http",
        };
        let host = ctx.headers.get(header::HOST).and_then(|v| v.to_str().ok()).filter(|h| h.bytes().all(|b| b.is_ascii_graphic()));
        let url = match host {
            Some(host) => format!("{scheme}://{host}{path}"),
            None => path.to_owned(),
        };
        Root { url }
    }

    /// `body` (DICOM JSON) with every relative `BulkDataURI` made absolute.
    #[cfg(test)]
    fn resolve(&self, body: &[u8]) -> Vec<u8> {
        Self::resolve_at(&self.url, body)
    }

    /// `body` with every relative `BulkDataURI` made absolute under the root `url`.
    fn resolve_at(url: &str, body: &[u8]) -> Vec<u8> {
        const NEEDLE: &[u8] = b"\"BulkDataURI\":\"";
        let base = serde_json::to_string(&format!("{url}/")).unwrap_or_default();
        let base = base.trim_matches('"').as_bytes();
        let mut out = Vec::with_capacity(body.len() + body.len() / 8);
        let mut rest = body;
        while let Some(at) = rest.windows(NEEDLE.len()).position(|w| w == NEEDLE) {
            out.extend_from_slice(&rest[..at + NEEDLE.len()]);
            out.extend_from_slice(base);
            rest = &rest[at + NEEDLE.len()..];
        }
        out.extend_from_slice(rest);
        out
    }
}

/// The policy as the request sees it, which changes what metadata says: part of every ETag.
fn policy_tag(ctx: &Ctx<'_>) -> String {
    ctx.policy().fingerprint()
}

/// Refuses an `Accept` that rules out DICOM JSON.
fn accepts_json(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    let Some(accept) = ctx.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else { return Ok(()) };
    let ok = accept
        .split(',')
        .map(|r| r.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .any(|m| matches!(m.as_str(), "application/dicom+json" | "application/json" | "application/*" | "*/*" | ""));
    if ok { Ok(()) } else { Err(ApiError::new(StatusCode::NOT_ACCEPTABLE, format!("cannot answer {:?}: only application/dicom+json", truncated(accept)))) }
}

/// The content coding the client's `Accept-Encoding` chooses.
fn coding(ctx: &Ctx<'_>) -> Coding {
    Coding::choose(ctx.headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()))
}

/// `body` compressed in `coding`, counted. CPU work: run on the render pool.
fn compressed(metrics: &crate::metrics::Metrics, coding: Coding, body: &[u8]) -> Result<Bytes, ApiError> {
    let packed = coding.compress(body).map_err(|e| ApiError::internal(StatusCode::INTERNAL_SERVER_ERROR, "internal error", e))?;
    if let Some(name) = coding.name() {
        metrics.compressions.get_or_create(&crate::metrics::CodingLabel { coding: name }).inc();
    }
    Ok(Bytes::from(packed))
}

/// A DICOM JSON answer made by `build` once per `version` (what the body depends on besides
/// the request): cached, validated by ETag, gzipped when asked. Patient data may be in it, so
/// only the browser keeps it. `build` runs on the render pool: matching and joining the
/// metadata of a large study is CPU work that must not hold an async thread.
async fn json_answer<F>(ctx: &Ctx<'_>, root: &Root, version: &[&[u8]], build: F) -> Result<Response<Body>, ApiError>
where
    F: FnOnce() -> Result<Vec<u8>, ApiError> + Send + 'static,
{
    accepts_json(ctx)?;
    let coding = coding(ctx);
    let mut parts: Vec<&[u8]> = vec![root.url.as_bytes(), ctx.query.unwrap_or("").as_bytes()];
    parts.extend_from_slice(version);
    let tag = digest(&parts);
    let etag = format!("\"w{}{}\"", &tag[..32], coding.etag_suffix());
    let caching = Caching { etag: etag.clone(), max_age: ctx.max_age(), shared: false };
    let mut response = if caching.not_modified(ctx.headers) {
        caching.not_modified_response()
    } else {
        let state = ctx.state;
        let body = state
            .dicomweb
            .bodies
            .try_get_with(etag, async {
                let base = root.url.clone();
                let metrics = state.metrics.clone();
                // Large metadata compresses tenfold or more, in every coding.
                state.pool.run(move || compressed(&metrics, coding, &Root::resolve_at(&base, &build()?))).await?
            })
            .await?;
        respond::coded(DICOM_JSON, body, coding, &caching, ctx.head)
    };
    response.headers_mut().append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    Ok(response)
}

/// WADO-RS metadata: the instances in scope, in catalog order.
async fn metadata(ctx: &Ctx<'_>, root: &Root, scope: Scope<'_>) -> Result<Response<Body>, ApiError> {
    let catalog = catalog::catalog(ctx).await?;
    let policy = policy_tag(ctx);
    let listing = catalog.version.clone();
    let version = [listing.as_bytes(), policy.as_bytes(), b"metadata", scope.study.unwrap_or("").as_bytes(), scope.series.unwrap_or("").as_bytes(), scope.sop.unwrap_or("").as_bytes()];
    let scope = scope.to_owned();
    json_answer(ctx, root, &version, move || {
        let scope = scope.borrowed();
        let chosen: Vec<&catalog::Instance> = catalog.instances.iter().filter(|i| qido::in_scope(i, &scope)).map(AsRef::as_ref).collect();
        if chosen.is_empty() {
            return Err(ApiError::not_found(match scope {
                Scope { sop: Some(_), .. } => "no such instance in this study and series",
                Scope { series: Some(_), .. } => "no such series in this study",
                _ => "no such study",
            }));
        }
        let mut body = Vec::with_capacity(chosen.iter().map(|i| i.body.len() + 1).sum::<usize>() + 2);
        body.push(b'[');
        for (n, instance) in chosen.iter().enumerate() {
            if n > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&instance.body);
        }
        body.push(b']');
        Ok(body)
    })
    .await
}

/// A configuration for OHIF's `dicomwebproxy` data source, whose `url` names this file: one
/// DICOMweb server at this root.
fn ohif_config(ctx: &Ctx<'_>, root: &Root) -> Result<Response<Body>, ApiError> {
    let config = serde_json::json!({
        "servers": {
            "dicomWeb": [{
                "name": "framegate",
                "wadoUriRoot": root.url,
                "qidoRoot": root.url,
                "wadoRoot": root.url,
                "qidoSupportsIncludeField": true,
                "imageRendering": "wadors",
                "thumbnailRendering": "wadors",
                "enableStudyLazyLoad": true,
                "supportsFuzzyMatching": false,
                "supportsWildcard": true,
                "omitQuotationForMultipartRequest": true,
                // Lossless HTJ2K in RPCL order, made here from native and lossless frames, for
                // Cornerstone's progressive decoding: a third of the bytes of the samples; lossy
                // frames come as stored (see wado::negotiate).
                "acceptHeader": [
                    "multipart/related; type=application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.202",
                    "multipart/related; type=application/octet-stream; transfer-syntax=*; q=0.9",
                ],
                "bulkDataURI": { "enabled": true },
            }]
        }
    });
    let body = Bytes::from(serde_json::to_vec(&config).unwrap_or_default());
    let etag = format!("\"o{}\"", &digest(&[&body])[..32]);
    let caching = Caching { etag, max_age: ctx.max_age(), shared: false };
    if caching.not_modified(ctx.headers) {
        return Ok(caching.not_modified_response());
    }
    Ok(respond::bytes("application/json", body, &caching, ctx.head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_resources() {
        fn p(s: &str) -> Result<Resource<'_>, ApiError> {
            parse(&s.split('/').filter(|x| !x.is_empty()).collect::<Vec<_>>())
        }
        let one = Scope { study: Some("1.2"), series: Some("1.3"), sop: Some("1.4") };
        assert_eq!(p("studies").unwrap(), Resource::Search(Level::Study, Scope::default()));
        assert_eq!(p("studies/1.2/series").unwrap(), Resource::Search(Level::Series, Scope { study: Some("1.2"), ..Default::default() }));
        assert_eq!(p("studies/1.2/series/1.3/instances/1.4/frames/1,2").unwrap(), Resource::Frames(one, "1,2"));
        assert_eq!(p("studies/1.2/series/1.3/instances/1.4/frames/3/rendered").unwrap(), Resource::Rendered(one, Some("3"), false));
        assert_eq!(p("studies/1.2/series/1.3/instances/1.4/bulk/7FE00010").unwrap(), Resource::Bulk(one, "7FE00010"));
        assert_eq!(p("studies/1.2/series/1.3/metadata").unwrap(), Resource::Metadata(Scope { sop: None, ..one }));
        assert_eq!(p("studies/x.y").unwrap_err().message, "invalid UID \"x.y\"");
        assert_eq!(p("studies/1.2/nope").unwrap_err().status, StatusCode::NOT_FOUND);
        assert!(matches!(p("studies/1.2").unwrap(), Resource::Unsupported(_)));
    }

    #[test]
    fn bulk_data_uris_are_made_absolute() {
        let root = Root { url: "http://h/v1/T/ct/-/dicomweb".into() };
        let out = root.resolve(br#"{"a":{"vr":"OB","BulkDataURI":"studies/1/bulk/7FE00010"}}"#);
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a":{"vr":"OB","BulkDataURI":"http://h/v1/T/ct/-/dicomweb/studies/1/bulk/7FE00010"}}"#);
    }
}
