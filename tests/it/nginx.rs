//! The shipped NGINX config, run by the real nginx in front of two framegate servers.

use std::collections::BTreeSet;
use std::time::Duration;

use super::nginxproc::{shipped, start_nginx, swap};
use super::support::*;
use framegate::ingest::Manifest;
use framegate::token::Purpose;

/// Two framegate servers over one folder (the second owns it, so the first can be stopped),
/// and nginx in front.
async fn setup() -> Option<(Server, Server, super::nginxproc::Nginx)> {
    setup_with(framegate::Settings::default()).await
}

async fn setup_with(settings: framegate::Settings) -> Option<(Server, Server, super::nginxproc::Nginx)> {
    setup_edited(settings, |server| server).await
}

/// [`setup_with`], with the shipped framegate.conf changed by `edit`.
async fn setup_edited(settings: framegate::Settings, edit: impl FnOnce(String) -> String) -> Option<(Server, Server, super::nginxproc::Nginx)> {
    if !have_tool("nginx") {
        return None;
    }
    let b = Server::start_with(settings.clone()).await;
    let a = Server::start_over(tempfile::tempdir().unwrap(), std::sync::Arc::new(framegate::store::fs::FsStore::new(b.dir.path()).unwrap()), None, settings).await;
    for i in 0..6 {
        b.put_ct(&format!("ct/s1/img{i}.dcm"), i, 6, 32).await;
    }
    let nginx = start_nginx([a.addr, b.addr], b.dir.path(), edit);
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
    let token = files_token(&a, "ct/s1");
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
    let other_series = files_token(&a, "ct/s2");
    assert_eq!(get(&nginx.url(&format!("/files/{other_series}/ct/s1/img1.dcm"))).await.status, 403);
    assert_eq!(get(&nginx.url("/files/nonsense/ct/s1/img1.dcm")).await.status, 403);
    let expired = a.keys.sign_for(Purpose::Files, &key("ct/s1"), now() - 5);
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

/// A token for the static route `/files/{token}/{key}`.
fn files_token(server: &Server, scope: &str) -> String {
    server.keys.sign_for(Purpose::Files, &key(scope), now() + 600)
}

/// The signature part of a token.
fn signature(token: &str) -> &str {
    token.rsplit('.').next().unwrap()
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Requests of every shape that reaches framegate's locations, with `token` where a token goes.
fn odd_requests(token: &str) -> Vec<String> {
    vec![
        format!("/v1/{token}/ct/s1/img2.dcm/-/frames/1.jpg"),
        format!("/v1/{token}/ct/s1/img2.dcm/-/frames/1.jpg?quality=50"),
        format!("//v1/{token}/ct/s1/img2.dcm/-/frames/1.jpg"),
        format!("/v1//{token}/ct/s1/img2.dcm/-/info.json"),
        format!("/v1/{token}/ct/s1/../s1/img2.dcm/-/frames/1.jpg"),
        format!("/v1/{token}/ct//s1/img2.dcm/-/stack.json"),
        format!("/v1/{token}/ct/s1/none.dcm/-/info.json"),
        format!("/v1/{token}/ct/s1/img2.dcm/-/frames/9.jpg"),
        format!("/v1/{token}/ct/s1/img2.dcm/-/frames/1.jpg?bad=1"),
        format!("/v1/{token}/ct/s1/img2.dcm"),
        format!("//v1/{token}/ct/s1/img2.dcm"),
        format!("/v1/{token}/ct/s1/none.dcm"),
        format!("/files/{token}/ct/s1/img1.dcm"),
        format!("//files/{token}/ct/s1/img1.dcm"),
        format!("/files/{token}/ct/s1/none.dcm"),
        format!("/files/{token}/ct/s1/link.dcm"),
    ]
}

#[tokio::test]
async fn no_file_nginx_writes_holds_a_token_signature() {
    let Some((a, b, mut nginx)) = setup().await else { return };
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("x.dcm"), b"outside").unwrap();
    std::os::unix::fs::symlink(outside.path().join("x.dcm"), b.path("ct/s1/link.dcm")).unwrap();
    let one_file = a.keys.sign(&key("ct/s1/img2.dcm"), now() + 100);
    let mut forged = one_file.clone();
    forged.replace_range(forged.len() - 2.., "AA");
    let tokens = [a.token("ct/s1"), files_token(&a, "ct/s1"), one_file, forged, a.keys.sign(&key("ct/s1"), now() - 1), a.token("ct/s2")];
    let mut statuses = BTreeSet::new();
    for token in &tokens {
        for path in odd_requests(token) {
            statuses.insert(get(&nginx.url(&path)).await.status);
        }
    }
    // An upstream that went away: nginx's connect() errors carry the request line.
    a.stop().await;
    for token in &tokens {
        for path in odd_requests(token) {
            statuses.insert(get(&nginx.url(&path)).await.status);
        }
    }
    for status in [200, 400, 403, 404, 410] {
        assert!(statuses.contains(&status), "no {status} among {statuses:?}");
    }
    nginx.stop();

    let written = nginx.written();
    let names: Vec<_> = written.iter().map(|(path, _)| path.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for log in ["access.log", "error.log", "default-format.log"] {
        assert!(names.iter().any(|n| n == log), "nginx wrote no {log}: {names:?}");
    }
    for (path, bytes) in &written {
        for token in &tokens {
            assert!(!holds(bytes, signature(token)), "{} holds a token signature:\n{}", path.display(), String::from_utf8_lossy(bytes));
        }
    }
    let default_format = written.iter().find(|(path, _)| path.ends_with("default-format.log")).unwrap();
    assert!(default_format.1.is_empty(), "every framegate location logs in its own format: {}", String::from_utf8_lossy(&default_format.1));
    assert!(nginx.access_log().contains("\"GET /v1/k1.*/ct/s1/img2.dcm/-/frames/1.jpg\" 200"), "{}", nginx.access_log());
    b.stop().await;
}

#[tokio::test]
async fn the_static_route_refuses_symbolic_links() {
    let Some((a, b, nginx)) = setup().await else { return };
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.dcm"), b"outside the root").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.dcm"), b.path("ct/s1/out.dcm")).unwrap();
    std::os::unix::fs::symlink(b.path("ct/s1/img1.dcm"), b.path("ct/s1/in.dcm")).unwrap();
    std::os::unix::fs::symlink(outside.path(), b.path("ct/s1/folder")).unwrap();
    std::fs::write(outside.path().join("inner.dcm"), b"outside the root").unwrap();
    let token = files_token(&a, "ct/s1");
    assert_eq!(get(&nginx.url(&format!("/files/{token}/ct/s1/img1.dcm"))).await.status, 200);
    for link in ["out.dcm", "in.dcm"] {
        let r = get(&nginx.url(&format!("/files/{token}/ct/s1/{link}"))).await;
        assert_eq!((r.status, r.error()), (403, "forbidden".to_owned()), "{link}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    // A linked folder is not a folder to nginx then: 404.
    let r = get(&nginx.url(&format!("/files/{token}/ct/s1/folder/inner.dcm"))).await;
    assert_eq!(r.status, 404);
    assert!(!holds(&r.body, "outside the root"));
    drop(nginx);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_replaced_object_reaches_nginx_clients_once_the_shared_lifetime_has_passed() {
    const SHARED: u64 = 2;
    // framegate's own revalidation window is off here, so that what is measured is NGINX's
    // shared lifetime alone (the README adds the two for the longest staleness).
    let settings = framegate::Settings { shared_max_age: SHARED, revalidate_after: Duration::ZERO, ..Default::default() };
    let Some((a, b, nginx)) = setup_with(settings).await else { return };
    let k = "ct/s1/img2.dcm";
    let token = a.token("ct/s1");
    let url = nginx.url(&frame_path(&token, k));
    let direct_url = a.url("ct/s1", k, "/-/frames/1.jpg");
    let direct = || get(&direct_url);
    let before = direct().await;
    assert!(before.header("cache-control").unwrap().ends_with(&format!(", s-maxage={SHARED}")), "{:?}", before.header("cache-control"));
    assert_eq!(get(&url).await.header("x-cache-status"), Some("MISS"));

    b.put_ct(k, 5, 6, 32).await;
    let after = direct().await;
    assert_ne!(after.body, before.body, "the replacement is another picture");
    let r = get(&url).await;
    assert_eq!((r.header("x-cache-status"), &r.body), (Some("HIT"), &before.body), "fresh for {SHARED} s");
    // The browser is still told what its token allows, not the shared lifetime.
    let age: u64 = r.header("cache-control").unwrap().strip_prefix("private, max-age=").unwrap().parse().unwrap();
    assert!(age > 3500, "{age}");
    tokio::time::sleep(Duration::from_millis(SHARED * 1000 + 1100)).await;
    let r = get(&url).await;
    assert_eq!(r.status, 200);
    assert!(r.body == after.body, "nginx still served the replaced object after {SHARED} s ({:?})", r.header("x-cache-status"));

    // The purge in the README: the entries whose KEY names the object, deleted from disk.
    b.put_ct(k, 1, 6, 32).await;
    let purged = direct().await;
    assert_eq!(get(&url).await.body, after.body, "still fresh");
    let mut deleted = 0;
    let mut pending = vec![nginx.cache_dir()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if holds(&std::fs::read(&path).unwrap(), &format!("\nKEY: /{k}/-/")) {
                std::fs::remove_file(path).unwrap();
                deleted += 1;
            }
        }
    }
    assert_eq!(deleted, 1);
    let r = get(&url).await;
    assert_eq!((r.header("x-cache-status"), &r.body), (Some("MISS"), &purged.body));
    drop(nginx);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn paths_framegate_cannot_parse_get_its_4xx_uncached_not_a_500() {
    let Some((a, b, nginx)) = setup().await else { return };
    let t = a.token("ct/s1");
    for (path, status) in [
        (format!("//v1/{t}/ct/s1/img2.dcm/-/frames/1.jpg"), 404),
        (format!("/v1//{t}/ct/s1/img2.dcm/-/frames/1.jpg"), 400),
        (format!("/v1/{t}/ct/s1/../s1/img2.dcm/-/frames/1.jpg"), 400),
        (format!("/v1/{t}/ct//s1/img2.dcm/-/info.json"), 400),
        (format!("/v1/{t}/ct/s1/img2.dcm/-/frames/9.jpg"), 404),
        (format!("/v1/{t}/ct/s1/img2.dcm/-/frames/1.jpg?bad=1"), 400),
    ] {
        let r = get(&nginx.url(&path)).await;
        assert_eq!(r.status, status, "{path}: {}", String::from_utf8_lossy(&r.body));
        assert!(!r.error().is_empty(), "framegate's JSON answer");
        let cache_control: Vec<_> = r.headers.get_all("cache-control").iter().collect();
        assert_eq!(cache_control, ["no-store"], "{path}");
    }
    // None of them went into the cache.
    assert_eq!(get(&nginx.url(&frame_path(&t, "ct/s1/img2.dcm"))).await.header("x-cache-status"), Some("MISS"));
    drop(nginx);
    a.stop().await;
    b.stop().await;
}

/// `nginx -t` on the shipped files as a stock Debian nginx would read them. Every path they name
/// below /var, /run or /srv is moved under a stand-in root, where the folder it goes into
/// exists only if it exists on this machine, as the Debian package left it: nginx creates the
/// last folder of the cache path, not the ones above.
#[test]
fn the_shipped_config_passes_nginx_t_with_the_folders_of_the_debian_package() {
    if !have_tool("nginx") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let r = root.display().to_string();
    let mut texts: Vec<(&str, String)> = ["nginx.conf", "framegate-http.conf", "framegate.conf"].into_iter().map(|n| (n, shipped(n))).collect();
    for (_, text) in &mut texts {
        for word in text.split(|c: char| c.is_whitespace() || c == ';').filter(|w| ["/var/", "/run/", "/srv/"].iter().any(|p| w.starts_with(p))) {
            let parent = std::path::Path::new(word).parent().unwrap();
            if parent.is_dir() {
                std::fs::create_dir_all(root.join(parent.strip_prefix("/").unwrap())).unwrap();
            }
        }
        for prefix in ["/var/", "/run/", "/srv/"] {
            *text = text.replace(&format!(" {prefix}"), &format!(" {r}{prefix}"));
        }
    }
    let main = &mut texts[0].1;
    *main = swap(std::mem::take(main), "listen 80;", &format!("listen 127.0.0.1:{};", free_port()));
    // nginx's own temp folders, where the Debian package has them (nginx -V), are not in the file.
    let temp = [("client_body", "body"), ("proxy", "proxy"), ("fastcgi", "fastcgi"), ("uwsgi", "uwsgi"), ("scgi", "scgi")];
    let temp: String = temp.iter().map(|(directive, folder)| format!("\n    {directive}_temp_path {r}/var/lib/nginx/{folder};")).collect();
    *main = swap(std::mem::take(main), "http {", &format!("http {{{temp}"));
    for (name, text) in &texts {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let conf = dir.path().join("nginx.conf");
    let out = std::process::Command::new("nginx").arg("-t").arg("-c").arg(&conf).arg("-e").arg(root.join("var/log/nginx/error.log")).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "nginx -t refused the shipped config: {said}");
    assert!(root.join("var/lib/nginx/framegate").is_dir(), "nginx made the cache folder");
}

#[tokio::test]
async fn nginx_stops_with_every_process_it_started() {
    let Some((a, b, mut nginx)) = setup().await else { return };
    assert_eq!(get(&nginx.url(&frame_path(&a.token("ct/s1"), "ct/s1/img1.dcm"))).await.status, 200);
    nginx.stop();
    assert!(std::net::TcpStream::connect(("127.0.0.1", nginx.port)).is_err(), "the port is free again");
    a.stop().await;
    b.stop().await;
}

/// The upload location of the shipped config: a POST passes straight to framegate (no
/// auth_request, which would take the upload token for a viewing one), which takes an upload
/// token and refuses a viewing one; NGINX refuses a body over its `client_max_body_size` (1m
/// here, 2g as shipped) before framegate reads a byte; what went in is served through NGINX at
/// once; and the access log keeps the key id of the upload token, not its signature.
#[tokio::test]
async fn uploads_pass_through_nginx_to_framegate_and_are_served_through_it() {
    let small = |server: String| swap(server, "client_max_body_size 2g;", "client_max_body_size 1m;");
    let Some((a, b, mut nginx)) = setup_edited(framegate::Settings::default(), small).await else { return };
    let slice = framegate::sample::to_bytes(framegate::sample::ct_slice(0, 1, 64)).unwrap();
    let upload = a.keys.sign_for(Purpose::Upload, &key("site"), now() + 600);
    let url = |token: &str| nginx.url(&format!("/v1/{token}/site/-/upload"));

    let viewing = a.token("site");
    let refused = request_with_body("POST", &url(&viewing), slice.clone()).await;
    assert_eq!((refused.status, refused.error()), (403, "forbidden".to_owned()), "framegate's own answer");

    let ok = request_with_body("POST", &url(&upload), slice.clone()).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(ok.header("cache-control"), Some("no-store"));
    let manifest: Manifest = serde_json::from_slice(&ok.body).unwrap();
    assert_eq!((manifest.totals.written, manifest.totals.failed), (1, 0), "{manifest:#?}");
    let series = &manifest.studies[0].series[0];
    assert!(series.key.starts_with("site/"), "{}", series.key);

    // Over NGINX's limit: its own 413 page, framegate never asked.
    let big = request_with_body("POST", &url(&upload), vec![0u8; (1 << 20) + 1]).await;
    assert_eq!(big.status, 413);
    assert!(!big.body.starts_with(b"{") && holds(&big.body, "413"), "NGINX refused it: {}", String::from_utf8_lossy(&big.body));

    // The series is served through NGINX at once: its stack and its frame, then from the cache.
    let stack_url = nginx.url(&format!("/v1/{}/{}/-/stack.json", a.token(&series.key), series.key));
    let stack = get(&stack_url).await;
    assert_eq!(stack.status, 200, "{}", String::from_utf8_lossy(&stack.body));
    assert_eq!(stack.json()["frames"], 1);
    let frame = url::Url::parse(&stack_url).unwrap().join(stack.json()["entries"][0]["url"].as_str().unwrap()).unwrap();
    let first = get(frame.as_str()).await;
    assert_eq!((first.status, first.header("content-type"), first.header("x-cache-status")), (200, Some("image/jpeg"), Some("MISS")));
    assert_eq!(get(frame.as_str()).await.header("x-cache-status"), Some("HIT"));

    let log = nginx.access_log();
    assert!(log.contains("\"POST /v1/k1.*/site/-/upload\" 200"), "{log}");
    assert!(log.contains("\"POST /v1/k1.*/site/-/upload\" 413"), "{log}");
    assert!(!log.contains(signature(&upload)), "the upload token's signature reached the access log");
    nginx.stop();
    let default_format = std::fs::read(nginx.dir.path().join("default-format.log")).unwrap_or_default();
    assert!(default_format.is_empty(), "{}", String::from_utf8_lossy(&default_format));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_rendered_answer_chosen_by_accept_is_not_served_from_the_cache_for_another_accept() {
    let Some((a, _b, nginx)) = setup().await else { return };
    let root = |token: &str| nginx.url(&format!("/v1/{token}/ct/s1/-/dicomweb"));
    let found = get(&format!("{}/instances", root(&a.token("ct/s1")))).await.json();
    let uid = |tag: &str| found[0][tag]["Value"][0].as_str().unwrap().to_owned();
    let rendered = |token: &str| format!("{}/studies/{}/series/{}/instances/{}/rendered", root(token), uid("0020000D"), uid("0020000E"), uid("00080018"));
    let png = request("GET", &rendered(&a.token("ct/s1")), &[("accept", "image/png")]).await;
    assert_eq!((png.status, png.header("content-type")), (200, Some("image/png")));
    assert!(png.header("vary").is_some_and(|v| v.contains("Accept")), "{:?}", png.header("vary"));
    // Another token, another format: not the PNG from the cache.
    let other = a.keys.sign(&key("ct/s1"), now() + 600);
    let jpeg = request("GET", &rendered(&other), &[("accept", "image/jpeg")]).await;
    assert_eq!((jpeg.status, jpeg.header("content-type")), (200, Some("image/jpeg")));
    assert!(jpeg.body.starts_with(&[0xFF, 0xD8]));
}
