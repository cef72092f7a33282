//! How the viewer loads a series on a slow link (issue 26, item 4): the read-ahead leans into
//! the scroll's direction and grows with its speed; once the first image is on screen the rest
//! of the series comes in the background as compressed bytes, with bitmaps decoded only near
//! the viewport within their budget; a jump cancels what is no longer near and fetches it again
//! in its turn. These assert the mechanism through what the page asked the network for and the
//! viewer's counters (`fg.loads`); the timings are in benches/viewer_scroll.rs.

use serde_json::Value;

use super::browser::browser;
use super::support::*;
use super::viewer::{ct_series, js, record_fetches, save_data, throttle, until};

/// Every frame fetch the page made from `from` on: (slice index, start ms, outcome).
async fn frame_fetches(client: &fantoccini::Client, from: u64) -> Vec<(usize, f64, String)> {
    let all = js(
        client,
        &format!(
            "return fetches.slice({from}).map((f) => {{ const m = /slice(\\d{{3}})\\.dcm/.exec(f.url); return m ? [Number(m[1]) - 1, f.start, f.outcome] : null; }}).filter(Boolean)"
        ),
    )
    .await;
    serde_json::from_value(all).unwrap()
}

async fn fetch_count(client: &fantoccini::Client) -> u64 {
    js(client, "return fetches.length").await.as_u64().unwrap()
}

/// Waits until every fetch the page made has been answered or cancelled.
async fn settled(client: &fantoccini::Client) {
    super::support::until("every request settled", PATIENCE, || async {
        match js(client, "return fetches.filter((f) => f.outcome === 'pending').length").await.as_u64() {
            Some(0) => Ok(()),
            n => Err(format!("{n:?} requests pending")),
        }
    })
    .await;
}

/// Sends `notches` wheel notches at `rate` a second to the image (down for a positive `sign`)
/// and waits until the last has been sent.
async fn wheel(client: &fantoccini::Client, notches: u32, rate: f64, sign: i32) {
    wheel_reading(client, notches, rate, sign, "null").await;
}

/// [`wheel`], answering the page's value of `read` in the same task as the first notch (before
/// it) and as the last (after it), so that nothing the page does can come between.
async fn wheel_reading(client: &fantoccini::Client, notches: u32, rate: f64, sign: i32, read: &str) -> (Value, Value) {
    let script = format!(
        "const done = arguments[0], stage = document.getElementById('stage'), t0 = performance.now(), first = {read}; let sent = 0;
         const notch = () => {{
           stage.dispatchEvent(new WheelEvent('wheel', {{ deltaY: {} * 100, clientX: 200, clientY: 200, bubbles: true, cancelable: true }}));
           if (++sent < {notches}) setTimeout(notch, Math.max(0, t0 + (sent * 1000) / {rate} - performance.now())); else done([first, {read}]);
         }};
         notch();",
        sign.signum()
    );
    let read = client.execute_async(&script, vec![]).await.unwrap();
    (read[0].clone(), read[1].clone())
}

fn loads(s: &Value) -> Value {
    s["loads"].clone()
}

/// The viewer's state with its loading counters.
async fn state(client: &fantoccini::Client) -> Value {
    js(client, "return window.fg && fg.stack ? { index: fg.index, shownIndex: fg.shownIndex, count: fg.count, loads: fg.loads, shownAt: fg.shownAt } : null").await
}

async fn until_loads(client: &fantoccini::Client, what: &str, test: impl Fn(&Value) -> bool) -> Value {
    super::support::until(what, PATIENCE, || async {
        let s = state(client).await;
        if !s.is_null() && test(&loads(&s)) { Ok(s) } else { Err(s) }
    })
    .await
}

#[tokio::test]
async fn after_the_first_image_the_fill_fetches_the_whole_series_compressed_and_decodes_only_within_budget() {
    let Some((_driver, client)) = browser(1280, 800, false).await else { return };
    let server = Server::start().await;
    // 80 slices of 512², 1 MiB each decoded: more than the 64 MiB of bitmaps the viewer keeps.
    const SLICES: usize = 80;
    ct_series(&server, "ct", SLICES, 512).await;
    client.goto("about:blank").await.unwrap();
    record_fetches(&client).await;
    client.goto(&server.url("ct", "ct", "/-/view")).await.unwrap();
    until(&client, "the first image", |s| s["shownIndex"] == 0).await;

    // Left alone, the viewer comes to hold every slice's bytes.
    let s = until_loads(&client, "the whole series held", |l| l["held"].as_u64() == Some(SLICES as u64)).await;
    let l = loads(&s);
    eprintln!("the fill: {l}");
    let fetches = frame_fetches(&client, 0).await;
    let mut slices: Vec<usize> = fetches.iter().filter(|f| f.2 == "answered").map(|f| f.0).collect();
    slices.sort_unstable();
    slices.dedup();
    assert_eq!(slices, (0..SLICES).collect::<Vec<_>>(), "every slice was fetched");
    // The fill came after the first image: until then only the wanted frame and the read-ahead
    // around it (ten ahead) were asked for.
    let first_shown = s["shownAt"]["0"].as_f64().unwrap();
    let before: Vec<usize> = fetches.iter().filter(|f| f.1 < first_shown).map(|f| f.0).collect();
    assert!(before.len() <= 11 && before.iter().all(|i| *i <= 10), "before the first image: {before:?}");
    assert!(l["fill"].as_u64() > Some(0), "the fill made requests: {l}");
    // What is held is the compressed frames, within their budget: far less than the pixels.
    let (bytes, budget) = (l["bytes"].as_u64().unwrap(), l["budget"].as_u64().unwrap());
    assert!(bytes <= budget && l["peakBytes"].as_u64().unwrap() <= budget, "{l}");
    assert!(bytes < SLICES as u64 * 512 * 512 / 2, "{bytes} bytes held for {SLICES} slices: not compressed frames");
    // Bitmaps only near the viewport, within theirs.
    let decoded_budget = l["decodedBudget"].as_u64().unwrap();
    assert!(l["peakDecodedBytes"].as_u64().unwrap() <= decoded_budget, "{l}");
    assert!(l["decoded"].as_u64().unwrap() < SLICES as u64, "{l}");

    // Scrolling the whole series on now asks the network for nothing, and shows every slice.
    let count = fetch_count(&client).await;
    wheel(&client, SLICES as u32 - 1, 30.0, 1).await;
    let s = super::support::until("the last slice", PATIENCE, || async {
        let s = state(&client).await;
        if s["shownIndex"] == SLICES as u64 - 1 { Ok(s) } else { Err(s) }
    })
    .await;
    assert_eq!(fetch_count(&client).await, count, "the scroll was served from the bytes held");
    assert_eq!(s["shownAt"].as_object().unwrap().len(), SLICES, "every slice was on screen: {}", s["shownAt"]);
    let l = loads(&s);
    assert!(l["peakDecodedBytes"].as_u64().unwrap() <= decoded_budget && l["decoded"].as_u64().unwrap() < SLICES as u64, "{l}");
    client.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_jump_cancels_the_fill_that_is_no_longer_near_and_fetches_it_again_in_its_turn() {
    let Some((_driver, client)) = browser(1024, 700, false).await else { return };
    let server = Server::start().await;
    const SLICES: usize = 120;
    ct_series(&server, "ct", SLICES, 128).await;
    client.goto("about:blank").await.unwrap();
    record_fetches(&client).await;
    // A slow link: the fill is on the wire when the jump comes.
    throttle(&client, 150, 800).await;
    client.goto(&server.url("ct", "ct", "/-/view")).await.unwrap();
    until(&client, "the first image", |s| s["shownIndex"] == 0).await;
    until_loads(&client, "the fill under way", |l| l["fill"].as_u64() >= Some(4)).await;

    // A jump to slice 101, as the host page's "go" or a click on the track does. What the
    // viewer had on the wire then, and for which frames, is read in the same turn as the jump.
    let jump = js(
        &client,
        "const far = [...net.values()].filter((r) => Math.abs(r.index - 100) > 10).map((r) => r.index);
         const before = fg.loads.aborted, n = fetches.length;
         window.atJump = fetches.filter((f) => f.outcome === 'pending' && f.url.includes('/-/frames/'));
         go(100);
         return { far, cancelled: fg.loads.aborted - before, n };",
    )
    .await;
    let far: Vec<usize> = serde_json::from_value(jump["far"].clone()).unwrap();
    assert!(!far.is_empty(), "requests far from slice 101 were on the wire at the jump: {jump}");
    // Each of them was cancelled by the jump itself.
    assert_eq!(jump["cancelled"].as_u64(), Some(far.len() as u64), "{jump}");
    let at_jump = jump["n"].as_u64().unwrap();
    until(&client, "slice 101", |s| s["shownIndex"] == 100).await;
    settled(&client).await;
    // The network agrees: requests pending at the jump were cut off (one whose answer had begun
    // to arrive counts as answered in this record, which sees only the headers).
    let cut = js(&client, "return atJump.map((f) => [Number(/slice(\\d{3})\\.dcm/.exec(f.url)[1]) - 1, f.start, f.outcome])").await;
    let cut: Vec<(usize, f64, String)> = serde_json::from_value(cut).unwrap();
    assert!(cut.iter().any(|(_, _, o)| o == "aborted"), "{cut:?}");
    // The first requests after the jump were for slice 101 and the frames around it.
    let after: Vec<usize> = frame_fetches(&client, at_jump).await.iter().map(|f| f.0).take(8).collect();
    assert!(!after.is_empty() && after.iter().all(|i| (*i as i64 - 100).abs() <= 10), "after the jump: {after:?}");
    // The cancelled frames were put behind, not dropped: the fill comes back for them.
    until_loads(&client, "the whole series held", |l| l["held"].as_u64() == Some(SLICES as u64)).await;
    client.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn the_read_ahead_leans_into_the_scroll_and_reaches_further_the_faster_it_goes() {
    let Some((_driver, client)) = browser(1024, 700, false).await else { return };
    let server = Server::start().await;
    const SLICES: usize = 120;
    ct_series(&server, "ct", SLICES, 128).await;
    client.goto("about:blank").await.unwrap();
    record_fetches(&client).await;
    // The read-ahead alone: no background fill under Save-Data.
    save_data(&client).await;
    throttle(&client, 100, 2000).await;
    client.goto(&format!("{}?slice=60", server.url("ct", "ct", "/-/view"))).await.unwrap();
    until(&client, "slice 60", |s| s["shownIndex"] == 59).await;
    settled(&client).await;
    let at_rest = frame_fetches(&client, 0).await;
    assert!(at_rest.iter().all(|f| (49..=69).contains(&f.0)), "at rest, the read-ahead stays near: {at_rest:?}");

    // Up, ten notches at 30 a second: the frames above come first, and further than the ten
    // frames the read-ahead keeps at rest.
    for (sign, start, stop) in [(-1i32, 59usize, 49usize), (1, 49, 59)] {
        let from = fetch_count(&client).await;
        wheel(&client, 10, 30.0, sign).await;
        until(&client, "the scroll's last slice", |s| s["shownIndex"] == stop as u64).await;
        settled(&client).await;
        let asked: Vec<usize> = frame_fetches(&client, from).await.into_iter().map(|f| f.0).collect();
        let ahead = |i: &usize| if sign < 0 { *i < start } else { *i > start };
        eprintln!("scrolling {}: {asked:?}", if sign < 0 { "up" } else { "down" });
        assert!(asked.iter().take(5).all(ahead), "the first requests lie in the direction of travel: {asked:?}");
        assert!(asked.iter().filter(|i| ahead(i)).count() > asked.len() * 3 / 4, "most requests lie ahead: {asked:?}");
        let reach = asked.iter().filter(|i| ahead(i)).map(|i| i.abs_diff(stop)).max().unwrap_or(0);
        // Where the old read-ahead (ten ahead, always down) would have asked for nothing.
        assert!(reach > 10, "at 30 slices a second the read-ahead reaches {reach} frames ahead of where the scroll stopped");
    }
    client.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn the_fill_waits_while_the_person_scrolls_and_resumes_when_the_scroll_rests() {
    let Some((_driver, client)) = browser(1024, 700, false).await else { return };
    let server = Server::start().await;
    const SLICES: usize = 160;
    ct_series(&server, "ct", SLICES, 128).await;
    client.goto("about:blank").await.unwrap();
    record_fetches(&client).await;
    // A slow link, so the fill is far from done when the scroll starts.
    throttle(&client, 150, 200).await;
    client.goto(&format!("{}?slice=40", server.url("ct", "ct", "/-/view"))).await.unwrap();
    until(&client, "slice 40", |s| s["shownIndex"] == 39).await;
    until_loads(&client, "the fill under way", |l| l["fill"].as_u64() >= Some(1)).await;
    // Down 40 notches at 30 a second; the fill's count read with the first and the last notch,
    // so nothing can start between read and scroll.
    let (before, during) = wheel_reading(&client, 40, 30.0, 1, "fg.loads.fill").await;
    let (before, during) = (before.as_u64().unwrap(), during.as_u64().unwrap());
    assert_eq!(during, before, "no fill request starts while the person scrolls");
    until_loads(&client, "the fill resumed at rest", |l| l["fill"].as_u64() > Some(during)).await;
    client.close().await.unwrap();
    server.stop().await;
}
