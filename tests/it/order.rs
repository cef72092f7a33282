//! Every route answers the same whatever was asked before it: for each fixture transfer syntax,
//! each route is asked first on a fresh server, then every other route, and every answer must
//! equal the one a server gave when asked in the natural order (QIDO first). A route that left
//! a different state behind for the same object version (an index built from a shorter header
//! read, say) shows up as a changed status or body.

use std::net::SocketAddr;
use std::sync::Arc;

use framegate::store::fs::FsStore;
use framegate::token::Keyring;
use framegate::{Settings, State};

use super::fixtures::{fidelity_tools_present, fixtures};
use super::support::*;

/// A server with empty caches over a folder that already holds the object, so that every
/// server sees the same object version (and so answers with the same validators).
struct Fresh {
    addr: SocketAddr,
    keys: Keyring,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Fresh {
    async fn over(dir: &std::path::Path) -> Fresh {
        let store = Arc::new(FsStore::new(dir).unwrap());
        let state = Arc::new(State::new(Keyring::parse(KEYS).unwrap(), store, Settings::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(framegate::run(listener, state, async {
            let _ = stopped.await;
        }));
        Fresh { addr, keys: Keyring::parse(KEYS).unwrap(), stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

/// The routes of one object, by name: (path past the server, `Accept`).
fn routes(server: &Fresh, uids: &(String, String, String)) -> Vec<(&'static str, String, &'static str)> {
    let (study, series, sop) = uids;
    let root = root(server);
    let object = |rest: &str| format!("{root}s/x.dcm{rest}");
    let web = |rest: &str| format!("{root}s/-/dicomweb/{rest}");
    let instance = format!("studies/{study}/series/{series}/instances/{sop}");
    vec![
        ("info", object("/-/info.json"), "*/*"),
        ("frame", object("/-/frames/1.png"), "*/*"),
        ("raw", object(""), "*/*"),
        ("stack", format!("{root}s/-/stack.json"), "*/*"),
        ("qido", web("instances"), "application/dicom+json"),
        ("metadata", web(&format!("{instance}/metadata")), "application/dicom+json"),
        ("frames", web(&format!("{instance}/frames/1")), "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*"),
        ("decoded", web(&format!("{instance}/frames/1")), "application/octet-stream"),
        ("instance", web(&instance), "application/dicom"),
        ("bulk", web(&format!("{instance}/bulk/7FE00010")), "application/octet-stream"),
        ("rendered", web(&format!("{instance}/rendered")), "image/png"),
    ]
}

/// `http://{server}/v1/{token}/`, with one token for the whole server so that answers that
/// name their own URLs (DICOMweb's `BulkDataURI`s) can be compared across servers.
fn root(server: &Fresh) -> String {
    format!("http://{}/v1/{}/", server.addr, server.keys.sign(&key("s"), 4_000_000_000))
}

/// Status and body of each route, asked in `order`, with the server's own root taken out.
async fn answers(server: &Fresh, uids: &(String, String, String), order: &[usize]) -> Vec<(u16, Vec<u8>)> {
    let all = routes(server, uids);
    let root = root(server);
    let mut out = vec![(0, Vec::new()); all.len()];
    for &i in order {
        let (_, url, accept) = &all[i];
        let r = request("GET", url, &[("accept", accept)]).await;
        let body = String::from_utf8(r.body.to_vec()).map_or_else(|e| e.into_bytes(), |text| text.replace(&root, "ROOT/").into_bytes());
        out[i] = (r.status, body);
    }
    out
}

/// Asks every route of the object `file` first on a fresh server, then every other, and checks
/// each answer equals the natural order's (QIDO first); returns the routes' names and those
/// answers.
async fn same_in_every_order(name: &str, file: &std::path::Path) -> Vec<(&'static str, u16, Vec<u8>)> {
    let store = tempfile::tempdir().unwrap();
    std::fs::create_dir(store.path().join("s")).unwrap();
    std::fs::copy(file, store.path().join("s/x.dcm")).unwrap();
    let baseline = Fresh::over(store.path()).await;
    let found = get(&format!("{}s/-/dicomweb/instances", root(&baseline))).await.json();
    // An object DICOMweb does not list is still asked for, under UIDs no object has.
    let uid = |tag: &str| found[0][tag]["Value"][0].as_str().unwrap_or("2.25.1").to_owned();
    let uids = (uid("0020000D"), uid("0020000E"), uid("00080018"));
    let names: Vec<&'static str> = routes(&baseline, &uids).iter().map(|r| r.0).collect();
    let natural: Vec<usize> = (0..names.len()).collect();
    let mut qido_first = natural.clone();
    qido_first.rotate_left(4);
    let expected = answers(&baseline, &uids, &qido_first).await;
    baseline.stop().await;
    for first in 0..names.len() {
        let server = Fresh::over(store.path()).await;
        let order: Vec<usize> = std::iter::once(first).chain(natural.iter().copied().filter(|i| *i != first)).collect();
        let got = answers(&server, &uids, &order).await;
        for (i, route) in names.iter().enumerate() {
            assert_eq!(
                got[i].0,
                expected[i].0,
                "{name}: {route} after {} first answered {} instead of {}: {:?}",
                names[first],
                got[i].0,
                expected[i].0,
                String::from_utf8_lossy(&got[i].1[..got[i].1.len().min(200)])
            );
            assert!(got[i].1 == expected[i].1, "{name}: {route} after {} first answered another body", names[first]);
        }
        server.stop().await;
    }
    names.into_iter().zip(expected).map(|(n, (status, body))| (n, status, body)).collect()
}

#[tokio::test]
async fn every_route_answers_the_same_whichever_is_asked_first() {
    if !fidelity_tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for fixture in fixtures(dir.path()) {
        let answered = same_in_every_order(&fixture.name, &fixture.file).await;
        // Every fixture is an image every route serves, but for the refusals of `refused`.
        for (name, status, body) in answered {
            let want = refused(fixture.ts, name, fixture.missing.is_some()).unwrap_or(200);
            assert_eq!(status, want, "{}: {name}: {:?}", fixture.name, String::from_utf8_lossy(&body[..body.len().min(200)]));
        }
    }
}

/// An object without Pixel Data (a Basic Text SR) is held by the same index cache as an image,
/// as a header-only entry: whichever route builds it first, every route answers the same, and
/// the frame routes refuse it (issue 23 item 4).
#[tokio::test]
async fn every_route_answers_a_report_the_same_whichever_is_asked_first() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sr.dcm");
    std::fs::write(&file, super::dicomweb::text_sr_of("a finding", 1)).unwrap();
    let answered = same_in_every_order("sr", &file).await;
    let statuses: Vec<(&str, u16)> = answered.iter().map(|(name, status, _)| (*name, *status)).collect();
    assert_eq!(
        statuses,
        [
            ("info", 422),
            ("frame", 422),
            ("raw", 200),
            // A folder of no image is no stack.
            ("stack", 404),
            ("qido", 200),
            ("metadata", 200),
            ("frames", 404),
            ("decoded", 404),
            ("instance", 200),
            ("bulk", 404),
            ("rendered", 422)
        ]
    );
}

/// What a route answers a fixture it does not serve, and why.
fn refused(ts: &str, route: &str, codec_missing: bool) -> Option<u16> {
    let decodes = matches!(route, "info" | "frame" | "decoded" | "rendered");
    let native = matches!(ts, "1.2.840.10008.1.2" | "1.2.840.10008.1.2.1" | "1.2.840.10008.1.2.2" | "1.2.840.10008.1.2.1.99");
    match route {
        // Compressed Pixel Data is served frame by frame, by the frames resource.
        "bulk" if !native => Some(406),
        // Frames this build has no codec for (JPEG-LS without CharLS, 12-bit lossy JPEG without
        // libjpeg-turbo): 415, naming the feature; info.json still describes the object.
        _ if codec_missing && decodes && route != "info" => Some(415),
        _ => None,
    }
}
