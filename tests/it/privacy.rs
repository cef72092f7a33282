//! Nothing that identifies a patient leaves the service: every route and error path is driven
//! over files with a planted value in every attribute of PS3.15 Table E.1-1, and every
//! response body, header and log line is searched for them.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

use super::fixtures::planted_object;
use super::support::*;
use framegate::sample;

#[tokio::test]
async fn no_planted_value_leaves_in_any_body_header_or_log_line() {
    let server = Server::start().await;
    let (mut a, planted) = planted_object(3, 1);
    a.put(DataElement::new(tags::BURNED_IN_ANNOTATION, VR::CS, PrimitiveValue::from("YES")));
    let (b, _) = planted_object(3, 2);
    let a_bytes = sample::to_bytes(a).unwrap();
    server.put("pt/s/a.dcm", a_bytes.clone()).await;
    server.put("pt/s/b.dcm", sample::to_bytes(b).unwrap()).await;
    // Error paths with the same header: truncated in the pixels, truncated in the header,
    // and an unknown transfer syntax.
    server.put("pt/s/cut.dcm", a_bytes[..a_bytes.len() - 100].to_vec()).await;
    server.put("pt/s/head.dcm", a_bytes[..2000].to_vec()).await;
    let mut ts = a_bytes.clone();
    let at = ts.windows(20).position(|w| w == b"1.2.840.10008.1.2.1\0").unwrap();
    ts[at..at + 19].copy_from_slice(b"1.2.3.4.5.6.7.8.9.1");
    server.put("pt/s/ts.dcm", ts).await;

    let t = server.token("pt/s");
    let expired = server.keys.sign(&key("pt/s"), now() - 1);
    let elsewhere = server.token("pt/other");
    let base = server.base();
    let mut paths = Vec::new();
    for k in ["a.dcm", "cut.dcm", "head.dcm", "ts.dcm", "none.dcm"] {
        for op in ["", "/-/info.json", "/-/frames/1.jpg", "/-/frames/2.jpg", "/-/frames/1.jpg?window=40,400&viewport=16,16", "/-/frames/1.jpg?bad=1", "/-/stack.json", "/-/view"] {
            paths.push(format!("/v1/{t}/pt/s/{k}{op}"));
            paths.push(format!("/v1/{expired}/pt/s/{k}{op}"));
            paths.push(format!("/v1/{elsewhere}/pt/s/{k}{op}"));
        }
    }
    paths.extend([format!("/v1/{t}/pt/s/-/stack.json"), format!("/v1/{t}/pt/s/-/view"), "/healthz".into(), "/metrics".into(), format!("/v1/{t}/pt/s/../x"), "/nope".into()]);
    let mut seen = Vec::new();
    let mut statuses = std::collections::BTreeSet::new();
    for path in &paths {
        for (method, headers) in [("GET", vec![]), ("HEAD", vec![]), ("GET", vec![("range", "bytes=0-300")])] {
            let r = request(method, &format!("{base}{path}"), &headers).await;
            statuses.insert(r.status);
            seen.push(String::from_utf8_lossy(&r.body).into_owned());
            for (name, value) in &r.headers {
                seen.push(format!("{name}: {}", String::from_utf8_lossy(value.as_bytes())));
            }
        }
    }
    let auth = request("GET", &format!("{base}/auth"), &[("x-original-uri", &format!("/v1/{t}/pt/s/a.dcm"))]).await;
    seen.extend(auth.headers.iter().map(|(n, v)| format!("{n}: {v:?}")));
    // Every kind of answer was exercised.
    for status in [200, 206, 400, 403, 404, 410, 415, 422] {
        assert!(statuses.contains(&status), "no {status} among {statuses:?}");
    }
    let logs = logs();
    assert!(logs.contains("route=\"frame\""), "the server logged");
    for value in &planted {
        for text in seen.iter().chain(std::iter::once(&logs)) {
            assert!(!text.contains(value.as_str()), "{value} leaked: {}", &text[..text.len().min(300)]);
        }
    }
    // Burned-in annotation is reported so a viewer can warn.
    assert_eq!(get(&format!("{base}/v1/{t}/pt/s/a.dcm/-/info.json")).await.json()["burned_in_annotation"], true);
    assert_eq!(get(&format!("{base}/v1/{t}/pt/s/-/stack.json")).await.json()["burned_in_annotation"], true);
    server.stop().await;
}
