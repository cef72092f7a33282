//! What only the S3 store has: a bucket, credentials, ETags, and a network that fails.

use std::sync::atomic::Ordering;
use std::time::Duration;

use framegate::store::Store;
use framegate::store::s3::S3Store;

use super::s3server::{ACCESS_KEY, ATTEMPT_TIMEOUT, BUCKET, FRAME, GIB, S3Server, SECRET_KEY, SIDE, write_gib_object};
use super::support::*;
use framegate::sample;

#[tokio::test]
async fn a_frame_of_a_gib_object_costs_its_header_and_that_frame() {
    let settings = framegate::Settings { raw_dicom: framegate::RawDicom::Original, ..Default::default() };
    let server = Server::start_on(Backend::S3, settings).await;
    let (header, size) = write_gib_object(server.dir.path(), "big/cine.dcm");
    let s3 = &server.s3.as_ref().unwrap().s3;
    let info = get(&server.url("big", "big/cine.dcm", "/-/info.json")).await;
    assert_eq!(info.status, 200, "{}", String::from_utf8_lossy(&info.body));
    assert_eq!(info.json()["frames"], GIB / FRAME);
    // The raw route knows the whole size without reading it.
    let head = request("HEAD", &server.url("big", "big/cine.dcm", ""), &[]).await;
    assert_eq!(head.header("content-length"), Some(&*size.to_string()));

    let r = get(&server.url("big", "big/cine.dcm", "/-/frames/300.jpg?quality=100")).await;
    let (w, h, pixels) = r.jpeg();
    assert_eq!((w, h), (SIDE, SIDE));
    let window = framegate::render::Window::new(2048.0, 4096.0, Default::default()).unwrap();
    let s = u32::from(SIDE);
    let expected: Vec<u8> = (0..s).flat_map(|row| (0..s).map(move |col| window.level(f64::from(sample::cine_value(0, col, row, s))))).collect();
    assert!(mean_abs_diff(&pixels, &expected) < 1.5);
    // Counted by the S3 server: one header read and one frame, nothing else.
    assert_eq!(s3.served("big/cine.dcm"), vec![64 * 1024, FRAME]);
    assert_eq!(server.store.reads_of("big/cine.dcm")[1], header + 299 * FRAME..header + 300 * FRAME);
    // A zero frame next to it renders black.
    let (_, _, zeros) = get(&server.url("big", "big/cine.dcm", "/-/frames/299.jpg")).await.jpeg();
    assert!(zeros.iter().all(|&p| p < 3));
    server.stop().await;
}

#[tokio::test]
async fn a_missing_bucket_stops_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(dir.path()).await;
    let store = S3Store::from_sdk(&s3.sdk(ACCESS_KEY, SECRET_KEY), &s3.options("no-such-bucket"));
    let err = store.check().await.unwrap_err().to_string();
    assert_eq!(err, "storage is unavailable: bucket \"no-such-bucket\" does not exist");
    let good = S3Store::from_sdk(&s3.sdk(ACCESS_KEY, SECRET_KEY), &s3.options(BUCKET));
    good.check().await.unwrap();
}

#[tokio::test]
async fn wrong_credentials_are_a_502_and_a_log_line_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(dir.path()).await;
    s3.put("ct/a.dcm", sample::to_bytes(sample::ct_slice(0, 1, 16)).unwrap()).await;
    let wrong_secret = "wrong-secret-that-must-not-be-logged";
    let store = S3Store::from_sdk(&s3.sdk(ACCESS_KEY, wrong_secret), &s3.options(BUCKET));
    let server = Server::start_over(dir, std::sync::Arc::new(store), Some(s3), Default::default()).await;
    for route in ["/-/frames/1.jpg", "/-/info.json", ""] {
        let r = get(&server.url("ct", "ct/a.dcm", route)).await;
        assert_eq!((r.status, r.error()), (502, "storage is unavailable".to_owned()), "{route}");
    }
    let logs = logs();
    assert!(logs.contains("check credentials and s3:GetObject permission"), "{logs}");
    for secret in [wrong_secret, SECRET_KEY] {
        assert!(!logs.contains(secret), "a secret reached the log");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_replaced_object_is_never_mixed_with_its_old_version() {
    // No revalidation window: the next request asks S3 for the version (see it::revalidate).
    let server = Server::start_on(Backend::S3, framegate::Settings { revalidate_after: std::time::Duration::ZERO, ..Default::default() }).await;
    server.put_ct("ct/a.dcm", 0, 1, 32).await;
    let key = key("ct/a.dcm");
    let old = server.store.head(&key).await.unwrap();
    assert_eq!(get(&server.url("ct", "ct/a.dcm", "/-/info.json")).await.json()["rows"], 32);
    server.put_ct("ct/a.dcm", 0, 1, 48).await;
    // A read pinned to the old ETag is refused by S3 (If-Match), not answered with new bytes.
    let stale = server.store.read(&key, &old, 0..128).await;
    assert!(matches!(stale, Err(framegate::store::StoreError::Changed)), "{stale:?}");
    // The next request sees the new ETag and re-indexes.
    assert_eq!(get(&server.url("ct", "ct/a.dcm", "/-/info.json")).await.json()["rows"], 48);
    let (w, _, _) = get(&server.url("ct", "ct/a.dcm", "/-/frames/1.jpg")).await.jpeg();
    assert_eq!(w, 48);
    server.stop().await;
}

#[tokio::test]
async fn faults_end_in_a_frame_or_a_clean_5xx_and_the_server_goes_on() {
    let server = Server::start_on(Backend::S3, Default::default()).await;
    server.put_ct("ct/a.dcm", 0, 1, 32).await;
    server.put_ct("ct/b.dcm", 0, 1, 32).await;
    let faults = &server.s3.as_ref().unwrap().s3.faults;
    let frame = |k: &str| server.url("ct", k, "/-/frames/1.jpg");

    // Two 503s are retried away.
    faults.unavailable.store(2, Ordering::SeqCst);
    assert_eq!(get(&frame("ct/a.dcm")).await.status, 200);
    // A store that stays down is a 502, quickly.
    faults.unavailable.store(100, Ordering::SeqCst);
    let r = get(&frame("ct/b.dcm")).await;
    assert_eq!((r.status, r.error()), (502, "storage is unavailable".to_owned()));
    faults.unavailable.store(0, Ordering::SeqCst);
    // One stall past the attempt timeout is retried; stalls past the whole timeout are a 504.
    faults.stall_ms.store((ATTEMPT_TIMEOUT + Duration::from_secs(1)).as_millis() as u32, Ordering::SeqCst);
    faults.stalled.store(1, Ordering::SeqCst);
    assert_eq!(get(&frame("ct/b.dcm")).await.status, 200);
    server.put_ct("ct/c.dcm", 0, 1, 32).await;
    faults.stalled.store(100, Ordering::SeqCst);
    let r = get(&frame("ct/c.dcm")).await;
    assert_eq!((r.status, r.error()), (504, "storage timed out".to_owned()));
    faults.stalled.store(0, Ordering::SeqCst);
    // A body cut short is retried, or ends in a 502, never in a frame made of half the bytes.
    let whole = get(&frame("ct/a.dcm")).await.body;
    faults.cut.store(1, Ordering::SeqCst);
    let r = get(&frame("ct/c.dcm")).await;
    assert_eq!((r.status, &r.body), (200, &whole), "the same slice as a.dcm");
    server.put_ct("ct/d.dcm", 0, 1, 32).await;
    faults.cut.store(100, Ordering::SeqCst);
    let r = get(&frame("ct/d.dcm")).await;
    assert_eq!((r.status, r.error()), (502, "storage is unavailable".to_owned()));
    faults.cut.store(0, Ordering::SeqCst);
    // And everything works again.
    for k in ["ct/a.dcm", "ct/b.dcm", "ct/c.dcm", "ct/d.dcm"] {
        assert_eq!(get(&frame(k)).await.status, 200, "{k}");
    }
    assert_eq!(get(&format!("{}/healthz", server.base())).await.status, 200);
    server.stop().await;
}

/// `n` small files in the bucket's folder `st/s1` (the in-process server keeps each bucket as a
/// folder), its server, a store over it, and that folder.
async fn listed_folder(n: usize) -> (tempfile::TempDir, S3Server, S3Store, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let server = S3Server::start(dir.path()).await;
    let store = S3Store::from_sdk(&server.sdk(ACCESS_KEY, SECRET_KEY), &server.options(BUCKET));
    let folder = dir.path().join(BUCKET).join("st").join("s1");
    std::fs::create_dir_all(&folder).unwrap();
    for i in 0..n {
        std::fs::write(folder.join(format!("{i:05}.dcm")), format!("slice {i}")).unwrap();
    }
    (dir, server, store, folder)
}

/// A listing as (key, size, version), in key order.
fn sorted(listed: Vec<framegate::store::Listed>) -> Vec<(String, u64, String)> {
    let mut listed: Vec<_> = listed.into_iter().map(|l| (l.key.as_str(), l.meta.size, l.meta.etag)).collect();
    listed.sort();
    listed
}

#[tokio::test]
async fn a_listing_pages_and_tags_every_object_as_its_head_does() {
    // The test S3 server lists as AWS does, ETags included, in pages of 1,000; framegate HEADs
    // each object only when a store lists none. Both ways must give the same objects and versions.
    let (dir, server, store, folder) = listed_folder(2100).await;
    std::fs::write(dir.path().join(BUCKET).join("stray.dcm"), "outside the prefix").unwrap();
    // One object stored through PUT, whose ETag s3s-fs records rather than computes.
    let put = key("st/s2/put.dcm");
    store.put(&put, Box::pin(futures_util::stream::once(async { Ok(bytes::Bytes::from_static(b"put through S3")) }))).await.unwrap();
    let listed = |untagged: bool| {
        server.s3.faults.untagged_listing.store(untagged, Ordering::SeqCst);
        let store = &store;
        async move { sorted(store.list(&key("st")).await.unwrap()) }
    };
    let tagged = listed(false).await;
    assert_eq!(tagged.len(), 2101, "every object under the prefix, none outside it");
    assert_eq!(tagged[0].0, "st/s1/00000.dcm");
    assert_eq!(tagged[0].1, 7);
    assert_eq!(tagged, listed(true).await, "the listing's ETags are the HEADs'");
    // A file replaced under the same size gets a new version in the listing.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(folder.join("00000.dcm"), "SLICE 0").unwrap();
    let replaced = listed(false).await;
    assert_ne!(replaced[0].2, tagged[0].2);
    assert_eq!(replaced, listed(true).await);
}

#[tokio::test]
async fn a_listing_cut_anywhere_is_the_whole_listing() {
    // Cuts come from a study catalog, which may be stale or wrong: whatever they are, a cut
    // listing holds every object once.
    let (_dir, _server, store, _) = listed_folder(2300).await;
    let whole = sorted(store.list(&key("st")).await.unwrap());
    assert_eq!(whole.len(), 2300);
    let slice = |i: usize| format!("st/s1/{i:05}.dcm");
    let cases: Vec<Vec<String>> = vec![
        vec![],
        vec![slice(1500)],
        // Unsorted, repeated, missing, before the first page's end, outside the prefix.
        vec![slice(2200), slice(1001), slice(1001), "st/s1/01234-missing.dcm".into(), slice(10), "other/x.dcm".into(), slice(99999)],
        // One at every key after the first page: ranges of one key each.
        (1000..1010).map(slice).collect(),
    ];
    for cuts in cases {
        let keys: Vec<framegate::key::ObjectKey> = cuts.iter().map(|k| key(k)).collect();
        let given: framegate::store::Cuts<'_> = &move |_| {
            let keys = keys.clone();
            Box::pin(async move { keys })
        };
        assert_eq!(sorted(store.list_cut(&key("st"), given).await.unwrap()), whole, "cut at {cuts:?}");
    }
}
