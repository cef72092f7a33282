//! The command line: keygen, sign, inspect, and start-up errors.

use std::process::Command;

use super::support::*;

fn framegate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_framegate")).args(args).output().unwrap()
}

#[test]
fn keygen_sign_and_verify_round_trip() {
    let out = framegate(&["keygen"]);
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, format!("# rotated keys\n{line}")).unwrap();
    let out = framegate(&["sign", "--keys-file", keys.to_str().unwrap(), "--ttl", "60", "ct/series1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let ring = framegate::token::Keyring::parse(&line).unwrap();
    let grant = ring.verify(&token, &key("ct/series1/a.dcm"), framegate::token::Purpose::View, now()).unwrap();
    assert_eq!(grant.depth, 2);
    assert!(grant.expires >= now() + 59 && grant.expires <= now() + 61);
}

#[test]
fn sign_refuses_a_dash_segment() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, KEYS).unwrap();
    let out = framegate(&["sign", "--keys-file", keys.to_str().unwrap(), "--ttl", "60", "ct/-/x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not allowed"));
}

#[test]
fn serve_stops_on_a_bad_keys_file() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    for (content, expect) in [(None, "cannot read keys file"), (Some("k1:AAECAw\n"), "secret is 4 bytes, at least 32 are needed")] {
        if let Some(c) = content {
            std::fs::write(&keys, c).unwrap();
        }
        let out = Command::new(env!("CARGO_BIN_EXE_framegate"))
            .args(["serve", "--root", dir.path().to_str().unwrap(), "--keys-file", keys.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{err}");
    }
}

/// Issue 28: a start stopped at the first bad flag, so fixing a configuration took one start per
/// mistake.
#[test]
fn serve_and_ingest_report_every_bad_value_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("keys");
    let root = dir.path().to_str().unwrap();
    let out = framegate(&["serve", "--root", root, "--keys-file", missing.to_str().unwrap(), "--trusted-proxy", "nonsense", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 configuration errors") && err.contains("cannot read keys file") && err.contains("trusted proxy \"nonsense\""), "{err}");
    let out = framegate(&["ingest", missing.to_str().unwrap(), "s3:///x"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in ["4 configuration errors", "source ", "\"s3:///x\" names no bucket", "ingest needs --to", "ingest needs --pseudonym-key"] {
        assert!(err.contains(expected), "{expected:?} missing from {err}");
    }
}

#[test]
fn inspect_prints_frame_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cine.dcm");
    framegate::sample::write(framegate::sample::cine(4, 32), &path).unwrap();
    let out = framegate(&["inspect", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    assert_eq!(json["frames"], 4);
    assert_eq!(json["transfer_syntax"]["uid"], "1.2.840.10008.1.2.1");
    let ranges = json["frame_ranges"].as_array().unwrap();
    assert_eq!(ranges.len(), 4);
    assert_eq!(ranges[3]["offset"].as_u64().unwrap() + ranges[3]["length"].as_u64().unwrap(), size);
    assert_eq!(ranges[0]["length"], 32 * 32 * 2);
}

#[tokio::test]
async fn every_url_the_demo_prints_answers() {
    let server = Server::start().await;
    let demo = framegate::sample::write_demo(server.dir.path()).unwrap();
    let urls = demo.urls(&server.keys, now() + 600);
    assert!(urls.len() >= 10);
    for (label, path) in urls {
        let r = get(&format!("{}{path}", server.base())).await;
        assert_eq!(r.status, 200, "{label}: {}", String::from_utf8_lossy(&r.body));
    }
    server.stop().await;
}
