//! The shipped NGINX config, run by the real nginx in front of two framegate servers.

use super::nginxproc::start_nginx;
use super::support::*;
use framegate::token::Purpose;

/// Two framegate servers over one folder (the second owns it, so the first can be stopped),
/// and nginx in front.
async fn setup() -> Option<(Server, Server, super::nginxproc::Nginx)> {
    if !have_tool("nginx") {
        return None;
    }
    let b = Server::start().await;
    let a = Server::start_over(tempfile::tempdir().unwrap(), std::sync::Arc::new(framegate::store::fs::FsStore::new(b.dir.path()).unwrap()), None, Default::default()).await;
    for i in 0..6 {
        b.put_ct(&format!("ct/s1/img{i}.dcm"), i, 6, 32).await;
    }
    let nginx = start_nginx([a.addr, b.addr], b.dir.path());
    Some((a, b, nginx))
}

fn frame_path(token: &str, k: &str) -> String {
    format!("/v1/{token}/{k}/-/frames/1.jpg")
}

#[tokio::test]
async fn frames_through_nginx_are_cached_without_the_token_yet_always_checked() {
    let Some((a, b, nginx)) = setup().await else { return };
    let series = a.token("ct/s1");
    let direct = get(&a.url("ct/s1", "ct/s1/img2.dcm", "/-/frames/1.jpg")).await;
    let first = get(&nginx.url(&frame_path(&series, "ct/s1/img2.dcm"))).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body, direct.body, "byte-identical through nginx");
    assert_eq!(first.header("x-cache-status"), Some("MISS"));
    let upstream_reads = a.store.reads_of("ct/s1/img2.dcm").len() + b.store.reads_of("ct/s1/img2.dcm").len();

    // Another viewer, another token (this one for the file alone, short-lived): a cache hit.
    let other = a.keys.sign(&key("ct/s1/img2.dcm"), now() + 100);
    let second = get(&nginx.url(&frame_path(&other, "ct/s1/img2.dcm"))).await;
    assert_eq!((second.status, second.header("x-cache-status")), (200, Some("HIT")));
    assert_eq!(second.body, direct.body);
    assert_eq!(a.store.reads_of("ct/s1/img2.dcm").len() + b.store.reads_of("ct/s1/img2.dcm").len(), upstream_reads);
    // The browser is told what the second token allows, not what the first one did.
    let age: u64 = second.header("cache-control").unwrap().strip_prefix("private, max-age=").unwrap().parse().unwrap();
    assert!((90..=100).contains(&age), "{age}");

    // A forged or expired token is refused although the frame sits in nginx's cache.
    let mut forged = other.clone();
    forged.replace_range(forged.len() - 2.., "AA");
    let r = get(&nginx.url(&frame_path(&forged, "ct/s1/img2.dcm"))).await;
    assert_eq!((r.status, r.error()), (403, "forbidden".to_owned()));
    let expired = a.keys.sign(&key("ct/s1"), now() - 1);
    let r = get(&nginx.url(&frame_path(&expired, "ct/s1/img2.dcm"))).await;
    assert_eq!((r.status, r.error()), (410, "token has expired".to_owned()));
    let r = get(&nginx.url(&frame_path(&series, "ct/s10/img2.dcm"))).await;
    assert_eq!(r.status, 403);

    // info.json and the raw route pass through; raw is never cached by nginx.
    assert_eq!(get(&nginx.url(&format!("/v1/{series}/ct/s1/img2.dcm/-/info.json"))).await.json()["rows"], 32);
    let raw = request("GET", &nginx.url(&format!("/v1/{series}/ct/s1/img2.dcm")), &[("range", "bytes=128-131")]).await;
    assert_eq!((raw.status, &raw.body[..]), (206, &b"DICM"[..]));
    assert_eq!(raw.header("x-cache-status"), None);

    // The access log names the key id, never a signature.
    let log = nginx.access_log();
    assert!(log.contains("/v1/k1.*/ct/s1/img2.dcm/-/frames/1.jpg"), "{log}");
    for token in [&series, &other, &forged, &expired] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!log.contains(signature), "a token signature reached the access log");
    }
    drop(nginx);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_static_route_opens_only_to_tokens_made_for_it() {
    let Some((a, b, nginx)) = setup().await else { return };
    let file = std::fs::read(b.path("ct/s1/img1.dcm")).unwrap();
    let files = |scope: &str, expires: u64| a.keys.sign_for(Purpose::Files, &key(scope), expires);
    let token = files("ct/s1", now() + 600);
    // A viewing token is what the raw route answers with a de-identified file: it must not
    // open the original here, nor a files token the viewer's routes.
    let viewer = a.token("ct/s1");
    let refused = get(&nginx.url(&format!("/files/{viewer}/ct/s1/img1.dcm"))).await;
    assert_eq!((refused.status, refused.body.windows(4).any(|w| w == b"DICM")), (403, false));
    assert_eq!(get(&nginx.url(&format!("/v1/{token}/ct/s1/img1.dcm/-/info.json"))).await.status, 403);
    assert_eq!(get(&nginx.url(&format!("/v1/{token}/ct/s1/img1.dcm"))).await.status, 403);
    let url = nginx.url(&format!("/files/{token}/ct/s1/img1.dcm"));
    let whole = get(&url).await;
    assert_eq!((whole.status, whole.body.len()), (200, file.len()));
    assert_eq!(whole.body, file);
    let part = request("GET", &url, &[("range", "bytes=128-131")]).await;
    assert_eq!((part.status, &part.body[..]), (206, &b"DICM"[..]));
    let other_series = files("ct/s2", now() + 600);
    assert_eq!(get(&nginx.url(&format!("/files/{other_series}/ct/s1/img1.dcm"))).await.status, 403);
    assert_eq!(get(&nginx.url("/files/nonsense/ct/s1/img1.dcm")).await.status, 403);
    let expired = files("ct/s1", now() - 5);
    let r = get(&nginx.url(&format!("/files/{expired}/ct/s1/img1.dcm"))).await;
    assert_eq!((r.status, r.error()), (410, "token has expired".to_owned()));
    assert!(!nginx.access_log().contains(token.rsplit('.').next().unwrap()));
    drop(nginx);
    a.stop().await;
    b.stop().await;
}

const OBJECTS: usize = 24;

#[tokio::test]
async fn objects_stick_to_one_upstream_and_fail_over() {
    let Some((a, b, nginx)) = setup().await else { return };
    for i in 6..OBJECTS {
        b.put_ct(&format!("ct/s1/img{i}.dcm"), i, OBJECTS, 16).await;
    }
    let token = a.token("ct/s1");
    for round in 0..3 {
        for i in 0..OBJECTS {
            let r = get(&nginx.url(&format!("/v1/{token}/ct/s1/img{i}.dcm/-/frames/1.jpg?quality={}", 50 + round))).await;
            assert_eq!(r.status, 200);
        }
    }
    let mut on_a = Vec::new();
    for i in 0..OBJECTS {
        let k = format!("ct/s1/img{i}.dcm");
        let (ra, rb) = (a.store.reads_of(&k).len(), b.store.reads_of(&k).len());
        assert!(ra == 0 || rb == 0, "{k} was served by both upstreams ({ra} and {rb} reads)");
        if ra > 0 {
            on_a.push(i);
        }
    }
    assert!(!on_a.is_empty() && on_a.len() < OBJECTS, "the hash spreads {OBJECTS} objects over both upstreams: {on_a:?} on the first");
    // Stop the first framegate: its objects are served by the second.
    a.stop().await;
    for i in 0..OBJECTS {
        let r = get(&nginx.url(&format!("/v1/{token}/ct/s1/img{i}.dcm/-/frames/1.jpg?quality=70"))).await;
        assert_eq!(r.status, 200, "img{i} after failover: {}", String::from_utf8_lossy(&r.body));
    }
    drop(nginx);
    b.stop().await;
}

#[tokio::test]
async fn auth_answers_for_the_original_uri_without_touching_storage() {
    let server = Server::start().await;
    server.put_ct("ct/a.dcm", 0, 1, 16).await;
    let auth = format!("{}/auth", server.base());
    let token = server.token("ct");
    let ok = request("GET", &auth, &[("x-original-uri", &format!("/v1/{token}/ct/a.dcm/-/frames/1.jpg?quality=5"))]).await;
    assert_eq!(ok.status, 204);
    assert!(ok.header("x-framegate-max-age").unwrap().parse::<u64>().unwrap() > 3500);
    // No object needs to exist: the check is the token's alone.
    assert_eq!(request("GET", &auth, &[("x-original-uri", &format!("/v1/{token}/ct/none.dcm"))]).await.status, 204);
    assert_eq!(request("GET", &auth, &[("x-original-uri", &format!("/v1/{token}/mr/a.dcm"))]).await.status, 403);
    let expired = server.keys.sign(&key("ct"), now() - 1);
    let original = format!("/v1/{expired}/ct/a.dcm");
    assert_eq!(request("GET", &auth, &[("x-original-uri", &original)]).await.status, 410);
    assert_eq!(request("GET", &auth, &[("x-original-uri", &original), ("x-framegate-auth", "nginx")]).await.status, 401);
    assert_eq!(request("GET", &auth, &[]).await.status, 400);
    assert!(server.store.reads_of("ct/a.dcm").is_empty());
    server.stop().await;
}
