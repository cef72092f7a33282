//! CORS for the portal and apps on other origins: an allow-list, off by default.

use http::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::respond::{self, Body};

/// Response headers a cross-origin viewer may read.
const EXPOSED: &str = "Content-Length, Content-Range, Accept-Ranges, ETag, X-Framegate-Transcode";
/// Request headers a cross-origin viewer may send; DICOMweb clients (OHIF, Cornerstone) send an
/// `Accept` with quotes in it, which is not CORS-safelisted and so is preflighted.
const ALLOWED_HEADERS: &str = "Range, If-None-Match, If-Range, Accept";
/// The end of the upload route's path, the one route that takes a POST.
const UPLOAD_SUFFIX: &str = "/-/upload";
/// How long a browser may keep a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";
/// Routes for NGINX and monitoring, not for browsers: no page of another origin may read them.
const NOT_FOR_BROWSERS: [&str; 3] = ["/metrics", "/auth", "/healthz"];

/// Origins allowed to read responses (`https://portal.example.org`); empty turns CORS off.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    origins: Vec<String>,
    /// `*` was among the origins: any origin may read, and none is echoed.
    any: bool,
}

impl Cors {
    /// An allow-list of exact origins; `*` allows any origin.
    pub fn new(origins: impl IntoIterator<Item = String>) -> Self {
        let origins: Vec<String> = origins.into_iter().map(|o| o.trim().trim_end_matches('/').to_owned()).filter(|o| !o.is_empty()).collect();
        let any = origins.iter().any(|o| o == "*");
        Cors { origins, any }
    }

    /// The exact origins allowed, without `*`.
    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.origins.iter().map(String::as_str).filter(|o| *o != "*")
    }

    /// What `Access-Control-Allow-Origin` says to this request, if anything. With `*`, the
    /// answer is `*` rather than the request's origin: echoing would grant `null` (sandboxed
    /// frames, `file:` pages) and would make every origin a separate cache entry.
    fn allowed(&self, request: &HeaderMap) -> Option<HeaderValue> {
        if self.any {
            return Some(HeaderValue::from_static("*"));
        }
        let origin = request.get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        self.origins.iter().any(|o| o == text).then(|| origin.clone())
    }

    /// Adds the CORS headers `request` is owed to `response`: none on the routes for NGINX and
    /// monitoring, and the preflight grant when `request` is a preflight.
    pub fn apply<B>(&self, request: &Request<B>, response: &mut Response<Body>) {
        if self.origins.is_empty() || NOT_FOR_BROWSERS.contains(&request.uri().path()) {
            return;
        }
        let headers = response.headers_mut();
        if !self.any {
            // Caches must keep answers for different origins apart.
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        let Some(origin) = self.allowed(request.headers()) else { return };
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED));
        if is_preflight(request.method(), request.headers()) {
            // The portal's upload sends a ZIP or DICOM body, whose type is not CORS-safelisted.
            let upload = request.uri().path().ends_with(UPLOAD_SUFFIX);
            let (methods, allowed) = if upload { ("POST", "Content-Type") } else { ("GET, HEAD", ALLOWED_HEADERS) };
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(methods));
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(allowed));
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(PREFLIGHT_MAX_AGE));
        }
    }

    /// The answer to a preflight `OPTIONS`, or `None` when this is not one CORS handles. What it
    /// grants is added by [`Cors::apply`], like every other CORS header.
    pub fn preflight(&self, request: &HeaderMap) -> Option<Response<Body>> {
        if self.origins.is_empty() || !request.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
            return None;
        }
        let mut response = Response::new(respond::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        Some(response)
    }
}

fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(cors: &Cors, method: Method, path: &str, headers: &[(&str, &str)]) -> HeaderMap {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(()).unwrap();
        let mut response = match cors.preflight(request.headers()).filter(|_| request.method() == Method::OPTIONS) {
            Some(preflight) => preflight,
            None => Response::new(respond::empty()),
        };
        cors.apply(&request, &mut response);
        response.headers().clone()
    }

    const FRAME: &str = "/v1/k1.1.1.x/ct/a.dcm/-/frames/1.jpg";

    #[test]
    fn any_origin_is_answered_with_a_star_never_an_echo() {
        let cors = Cors::new(["*".to_owned()]);
        for origin in ["https://portal.example", "null"] {
            let h = answer(&cors, Method::GET, FRAME, &[("origin", origin)]);
            assert_eq!(h.get("access-control-allow-origin").unwrap(), "*", "{origin}");
            assert!(h.get("access-control-allow-credentials").is_none());
            assert!(h.get("vary").is_none(), "one answer for every origin");
        }
        let h = answer(&cors, Method::OPTIONS, FRAME, &[("origin", "null"), ("access-control-request-method", "GET")]);
        assert_eq!(h.get("access-control-allow-origin").unwrap(), "*");
        assert_eq!(h.get("access-control-allow-methods").unwrap(), "GET, HEAD");
        assert!(h.get("access-control-allow-credentials").is_none());
    }

    #[test]
    fn an_allow_list_echoes_only_its_origins() {
        let cors = Cors::new(["https://portal.example/".to_owned()]);
        let h = answer(&cors, Method::GET, FRAME, &[("origin", "https://portal.example")]);
        assert_eq!(h.get("access-control-allow-origin").unwrap(), "https://portal.example");
        assert_eq!(h.get_all("vary").iter().count(), 1);
        for origin in ["null", "https://evil.example"] {
            let h = answer(&cors, Method::GET, FRAME, &[("origin", origin)]);
            assert!(h.get("access-control-allow-origin").is_none(), "{origin}");
            assert_eq!(h.get("vary").unwrap(), "Origin");
        }
        let h = answer(&cors, Method::OPTIONS, FRAME, &[("origin", "https://portal.example"), ("access-control-request-method", "GET")]);
        assert_eq!(h.get_all("vary").iter().count(), 1, "a preflight is given its headers once");
        assert_eq!(h.get("access-control-allow-headers").unwrap(), ALLOWED_HEADERS);
        let h = answer(&cors, Method::OPTIONS, FRAME, &[("origin", "https://evil.example"), ("access-control-request-method", "GET")]);
        assert!(h.get("access-control-allow-methods").is_none());
    }

    #[test]
    fn routes_for_nginx_and_monitoring_get_no_cors_headers() {
        for cors in [Cors::new(["*".to_owned()]), Cors::new(["https://portal.example".to_owned()])] {
            for path in NOT_FOR_BROWSERS {
                for method in [Method::GET, Method::OPTIONS] {
                    let h = answer(&cors, method.clone(), path, &[("origin", "https://portal.example"), ("access-control-request-method", "GET")]);
                    assert!(h.keys().all(|name| !name.as_str().starts_with("access-control-") && name != "vary"), "{method} {path}: {h:?}");
                }
            }
        }
    }

    #[test]
    fn the_exact_origins_are_listed_without_the_star() {
        let cors = Cors::new(["*".to_owned(), " https://a.example/ ".to_owned()]);
        assert_eq!(cors.origins().collect::<Vec<_>>(), ["https://a.example"]);
    }
}
