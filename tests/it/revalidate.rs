//! Issue 13: within `--revalidate-after`, a cached frame, info.json or stack.json costs no
//! storage call at all; a replaced object is still never spliced, and is seen once the window
//! ends or as soon as a read finds it changed. Counted at the store, on both stores.

use std::time::Duration;

use super::support::*;
use framegate::Settings;

crate::on_both_stores!(cached_answers_cost_no_storage_call_within_the_window);

async fn cached_answers_cost_no_storage_call_within_the_window(backend: Backend) {
    let server = Server::start_on(backend, Settings { revalidate_after: Duration::from_secs(60), ..Default::default() }).await;
    server.put_ct("ct/s/a.dcm", 0, 2, 32).await;
    server.put_ct("ct/s/b.dcm", 1, 2, 32).await;
    let paths = [("ct/s/a.dcm", "/-/frames/1.jpg"), ("ct/s/a.dcm", "/-/info.json"), ("ct/s", "/-/stack.json"), ("ct/s/b.dcm", "/-/frames/1.png?window=40,400")];
    for (key, path) in paths {
        assert_eq!(get(&server.url("ct/s", key, path)).await.status, 200, "{key}{path}");
    }
    let warm = server.store.calls();
    assert!(warm > 0);
    for _ in 0..20 {
        for (key, path) in paths {
            assert_eq!(get(&server.url("ct/s", key, path)).await.status, 200, "{key}{path}");
        }
    }
    assert_eq!(server.store.calls(), warm, "80 cached answers asked the store");
    server.stop().await;
}

crate::on_both_stores!(a_replaced_object_is_seen_when_a_read_finds_it_changed_and_when_the_window_ends);

async fn a_replaced_object_is_seen_when_a_read_finds_it_changed_and_when_the_window_ends(backend: Backend) {
    let server = Server::start_on(backend, Settings { revalidate_after: Duration::from_secs(2), ..Default::default() }).await;
    let first = server.put_ct("ct/s/a.dcm", 0, 2, 32).await;
    let frame = |n: u32| server.url("ct/s", "ct/s/a.dcm", &format!("/-/frames/{n}.png"));
    let before = get(&frame(1)).await.body;
    let info_before = get(&server.url("ct/s", "ct/s/a.dcm", "/-/info.json")).await.body;
    // A different image of a different size under the same key.
    let second = server.put_ct("ct/s/a.dcm", 1, 2, 48).await;
    assert_ne!(first, second);
    // An uncached frame reads the object: the read names the old version, is refused, and the
    // request starts over with the new one. Nothing old is spliced into it.
    let fresh = get(&server.url("ct/s", "ct/s/a.dcm", "/-/frames/1.png?window=40,401")).await;
    assert_eq!(fresh.status, 200);
    assert_eq!(decode_png_size(&fresh.body), (48, 48));
    // Within the window, a cached answer may still be the old one; once it ends, it is not.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let after = get(&frame(1)).await.body;
    assert_ne!(after, before);
    assert_eq!(decode_png_size(&after), (48, 48));
    assert_ne!(get(&server.url("ct/s", "ct/s/a.dcm", "/-/info.json")).await.body, info_before);
    server.stop().await;
}

#[tokio::test]
async fn a_zero_window_asks_the_store_every_time() {
    let server = Server::start_with(Settings { revalidate_after: Duration::ZERO, ..Default::default() }).await;
    server.put_ct("ct/s/a.dcm", 0, 1, 32).await;
    let url = server.url("ct/s", "ct/s/a.dcm", "/-/frames/1.jpg");
    assert_eq!(get(&url).await.status, 200);
    let warm = server.store.calls();
    assert_eq!(get(&url).await.status, 200);
    assert_eq!(server.store.calls(), warm + 1, "one head for a cached frame");
    server.stop().await;
}

/// Width and height of a PNG, from its header.
fn decode_png_size(png: &[u8]) -> (u32, u32) {
    (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()))
}
