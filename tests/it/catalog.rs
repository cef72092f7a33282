//! Issue 24: the stored study catalog. A cold study costs one listing and one catalog read, on
//! both stores; objects added, replaced or deleted after the catalog was written never change
//! an answer (bodies compared with a server whose study has no catalog); a catalog of another
//! format is ignored with a warning; ingest, the upload route and `framegate catalog` write it.

use std::sync::Arc;

use framegate::catalog::{self, Built};
use framegate::dicom::Limits;
use framegate::ingest::{self, Destination, Options, Source};
use framegate::pool::RenderPool;
use framegate::store::fs::FsStore;
use framegate::token::Purpose;
use framegate::{Settings, sample};

use super::s3server::BUCKET;
use super::support::*;

const SLICES: usize = 6;
const CATALOG: &str = "st/.framegate-catalog";

/// A study folder `st` with one series folder of CT slices, catalogued or not.
async fn study(backend: Backend, catalogued: bool) -> Server {
    let server = Server::start_on(backend, Settings::default()).await;
    for i in 0..SLICES {
        server.put_ct(&slice(i), i, SLICES, 32).await;
    }
    if catalogued {
        let built = write_catalog(&server).await;
        assert_eq!((built.listed, built.catalogued), (SLICES, SLICES));
        // Writing it read every slice; the server has read nothing yet.
        server.store.clear();
    }
    server
}

fn slice(i: usize) -> String {
    format!("st/s1/a{i}.dcm")
}

/// Writes `st`'s catalog beside the server, as ingest or the backfill would.
async fn write_catalog(server: &Server) -> Built {
    let pool = RenderPool::new(1, 8, 1 << 30);
    catalog::write(server.store.as_ref(), &key("st"), &Limits::default(), &pool).await.unwrap()
}

async fn study_uid(server: &Server) -> String {
    let studies = get(&server.url("st", "st", "/-/dicomweb/studies")).await;
    assert_eq!(studies.status, 200);
    studies.json()[0]["0020000D"]["Value"][0].as_str().unwrap().to_owned()
}

/// Deletes object `rel`: the in-process S3 server has no DeleteObject, but keeps each bucket
/// as a folder, so the object's file goes.
fn delete(server: &Server, rel: &str) {
    let path = match &server.s3 {
        Some(_) => server.dir.path().join(BUCKET).join(rel),
        None => server.path(rel),
    };
    std::fs::remove_file(path).unwrap();
}

/// An answer with every absolute URL made relative to its server's root (`http://host/v1/{token}/`),
/// so two servers' answers compare.
fn relative(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_ref();
    while let Some(at) = rest.find("http://127.0.0.1:") {
        out.push_str(&rest[..at]);
        let url = &rest[at..];
        // Scheme, host, `v1`, token: four slashes past the scheme's two.
        let cut = url.match_indices('/').nth(4).map_or(url.len(), |(i, _)| i + 1);
        rest = &url[cut..];
    }
    out.push_str(rest);
    out
}

crate::on_both_stores!(a_cold_study_is_one_listing_and_one_catalog_read);

/// Study metadata and stack.json of the study folder: the probe of the prefix, its listing and
/// the catalog's one GET, and no byte of any instance; a series folder adds the HEAD of its
/// study folder's catalog. Each answer is the uncatalogued server's, and warm costs nothing.
async fn a_cold_study_is_one_listing_and_one_catalog_read(backend: Backend) {
    let plain = study(backend, false).await;
    let uid = study_uid(&plain).await;
    let metadata = format!("/-/dicomweb/studies/{uid}/metadata");
    for (scope, path, calls) in [("st", metadata.as_str(), 3), ("st", "/-/stack.json", 3), ("st/s1", "/-/stack.json", 4)] {
        let server = study(backend, true).await;
        let before = server.store.calls();
        server.store.clear();
        let answer = get(&server.url(scope, scope, path)).await;
        assert_eq!(answer.status, 200, "{scope}{path}");
        assert_eq!(server.store.calls() - before, calls, "{scope}{path}: head of the prefix, listing, catalog");
        assert_eq!(server.store.reads_of(CATALOG).len(), 1, "{scope}{path}");
        for i in 0..SLICES {
            assert_eq!(server.store.reads_of(&slice(i)), vec![], "{scope}{path} read an instance");
        }
        assert_eq!(relative(&answer.body), relative(&get(&plain.url(scope, scope, path)).await.body), "{scope}{path}");
        let warm = server.store.calls();
        assert_eq!(get(&server.url(scope, scope, path)).await.status, 200);
        assert_eq!(server.store.calls(), warm, "{scope}{path}: a warm answer asked the store");
        server.stop().await;
    }
    plain.stop().await;
}

crate::on_both_stores!(objects_added_replaced_and_deleted_after_the_catalog_never_change_an_answer);

async fn objects_added_replaced_and_deleted_after_the_catalog_never_change_an_answer(backend: Backend) {
    let (catalogued, plain) = (study(backend, true).await, study(backend, false).await);
    for server in [&catalogued, &plain] {
        // Added; replaced by a slice of another size; replaced by the same size with another
        // window in its header (only the version tells it); deleted.
        server.put_ct("st/s1/a9.dcm", 9, SLICES, 32).await;
        server.put_ct(&slice(2), 2, SLICES, 48).await;
        let mut same_size = sample::to_bytes(sample::ct_slice(1, SLICES, 32)).unwrap();
        let at = same_size.windows(7).position(|w| w == b"40\\-600").unwrap();
        same_size[at + 1] = b'1';
        server.put(&slice(1), same_size).await;
        delete(server, &slice(3));
    }
    let uid = study_uid(&plain).await;
    let paths = [
        ("st", format!("/-/dicomweb/studies/{uid}/metadata")),
        ("st", "/-/dicomweb/studies".to_owned()),
        ("st", format!("/-/dicomweb/studies/{uid}/instances")),
        ("st", "/-/stack.json".to_owned()),
        ("st/s1", "/-/stack.json".to_owned()),
        ("st/s1/a1.dcm", "/-/info.json".to_owned()),
        ("st/s1/a1.dcm", "/-/frames/1.png".to_owned()),
        ("st/s1/a2.dcm", "/-/frames/1.png".to_owned()),
    ];
    for (scope, path) in &paths {
        let (got, want) = (get(&catalogued.url(scope, scope, path)).await, get(&plain.url(scope, scope, path)).await);
        assert_eq!((got.status, want.status), (200, 200), "{scope}{path}");
        assert_eq!(relative(&got.body), relative(&want.body), "{scope}{path}");
    }
    // The catalog was used for what it still describes, and only for that.
    assert_eq!(catalogued.store.reads_of(CATALOG).len(), 1);
    for unchanged in [0, 4, 5] {
        assert!(catalogued.store.reads_of(&slice(unchanged)).is_empty(), "{} was read although catalogued", slice(unchanged));
    }
    for changed in ["st/s1/a9.dcm", "st/s1/a1.dcm", "st/s1/a2.dcm"] {
        assert!(catalogued.store.reads_of(changed).first().is_some_and(|r| r.start == 0), "{changed} was not read the old way");
    }
    catalogued.stop().await;
    plain.stop().await;
}

crate::on_both_stores!(a_catalog_of_another_format_is_ignored_with_a_warning);

async fn a_catalog_of_another_format_is_ignored_with_a_warning(backend: Backend) {
    let (server, plain) = (study(backend, false).await, study(backend, false).await);
    let uid = study_uid(&plain).await;
    // Another server wrote it, from a later format.
    let writer = study(backend, true).await;
    let bytes = read_catalog(&writer).await;
    let mut newer = bytes;
    newer[8..12].copy_from_slice(&2u32.to_le_bytes());
    server.put(CATALOG, newer).await;
    let path = format!("/-/dicomweb/studies/{uid}/metadata");
    let got = get(&server.url("st", "st", &path)).await;
    assert_eq!(got.status, 200);
    assert_eq!(relative(&got.body), relative(&get(&plain.url("st", "st", &path)).await.body));
    for i in 0..SLICES {
        assert!(!server.store.reads_of(&slice(i)).is_empty(), "{} was not read the old way", slice(i));
    }
    assert!(logs().contains("study catalog has another format"), "no warning");
    for server in [server, plain, writer] {
        server.stop().await;
    }
}

/// The catalog's bytes, read through the store.
async fn read_catalog(server: &Server) -> Vec<u8> {
    use framegate::store::Store;
    let k = key(CATALOG);
    let meta = server.store.head(&k).await.unwrap();
    server.store.read(&k, &meta, 0..meta.size).await.unwrap().to_vec()
}

crate::on_both_stores!(the_first_frame_of_a_catalogued_object_reads_only_its_own_range);

async fn the_first_frame_of_a_catalogued_object_reads_only_its_own_range(backend: Backend) {
    let (server, plain) = (study(backend, true).await, study(backend, false).await);
    assert_eq!(get(&server.url("st", "st", "/-/stack.json")).await.status, 200);
    assert_eq!(server.store.reads_of(&slice(0)), vec![], "stack.json read the slice");
    let frame = get(&server.url("st", &slice(0), "/-/frames/1.png")).await;
    assert_eq!(frame.status, 200);
    let size = sample::to_bytes(sample::ct_slice(0, SLICES, 32)).unwrap().len() as u64;
    assert_eq!(server.store.reads_of(&slice(0)), vec![size - 32 * 32 * 2..size], "only the frame's own bytes");
    assert_eq!(frame.body, get(&plain.url("st", &slice(0), "/-/frames/1.png")).await.body);
    server.stop().await;
    plain.stop().await;
}

/// Ingest writes each study's catalog once its objects are in, and so does the upload route
/// (which writes through ingest); a fresh server then opens the study with one catalog read.
#[tokio::test]
async fn ingest_and_the_upload_route_write_the_catalog() {
    let server = Server::start().await;
    let source = server.path("source");
    for i in 0..SLICES {
        write_ct(&source, &format!("a{i}.dcm"), i, SLICES, 32);
    }
    let destination = Destination { store: Arc::new(FsStore::new(server.dir.path()).unwrap()), prefix: vec!["in".into()], label: "test".into() };
    let manifest = ingest::run(vec![Source::Local(source)], destination, server.state.policy.pseudonyms().clone(), Options::default(), Arc::new(ingest::Quiet)).await.unwrap();
    assert_eq!(manifest.totals.written, SLICES as u64, "{manifest:?}");
    let folder = manifest.studies[0].key.clone();
    assert!(server.path(&format!("{folder}/.framegate-catalog")).is_file(), "no catalog beside the study");
    let before = server.store.calls();
    let answer = get(&server.url(&folder, &folder, "/-/dicomweb/studies")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json().as_array().unwrap().len(), 1);
    assert_eq!(server.store.calls() - before, 3, "head of the prefix, listing, catalog");

    let token = server.keys.sign_for(Purpose::Upload, &key("site"), now() + 600);
    let uploaded = request_with_body("POST", &format!("{}/v1/{token}/site/-/upload", server.base()), sample::to_bytes(sample::ct_slice(0, 1, 16)).unwrap()).await;
    assert_eq!(uploaded.status, 200);
    let folder = uploaded.json()["studies"][0]["key"].as_str().unwrap().to_owned();
    let bytes = std::fs::read(server.path(&format!("{folder}/.framegate-catalog"))).unwrap();
    assert_eq!(catalog::format::decode(&bytes.into()).unwrap().len(), 1);
    server.stop().await;
}

/// `framegate catalog <folder>` writes the catalog of each study already stored, and says so.
#[test]
fn the_backfill_command_catalogs_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..SLICES {
        write_ct(dir.path(), &format!("in/1.2.3/4.5/a{i}.dcm"), i, SLICES, 32);
        write_ct(dir.path(), &format!("in/1.2.9/4.6/b{i}.dcm"), i, SLICES, 32);
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_framegate")).args(["catalog", dir.path().to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("2 studies catalogued, 12 objects in them, 0 failed"), "{stderr}");
    for study in ["1.2.3", "1.2.9"] {
        let bytes = std::fs::read(dir.path().join(format!("in/{study}/.framegate-catalog"))).unwrap();
        let names: Vec<String> = catalog::format::decode(&bytes.into()).unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names.len(), SLICES, "{study}: {names:?}");
        assert!(names.iter().all(|n| n.starts_with("4.")), "{names:?}");
    }
}

/// A prefix of several studies (a site's folder) lists each study's catalog: a cold search
/// over it reads every catalog once and no instance.
#[tokio::test]
async fn a_prefix_of_several_studies_reads_each_catalog_once() {
    let server = Server::start().await;
    let pool = RenderPool::new(1, 8, 1 << 30);
    for study in ["a", "b"] {
        for i in 0..SLICES {
            server.put_ct(&format!("site/{study}/s1/{i}.dcm"), i, SLICES, 32).await;
        }
        let built = catalog::write(server.store.as_ref(), &key(&format!("site/{study}")), &Limits::default(), &pool).await.unwrap();
        assert_eq!(built.catalogued, SLICES);
    }
    server.store.clear();
    let before = server.store.calls();
    let search = get(&server.url("site", "site", "/-/dicomweb/instances")).await;
    assert_eq!(search.status, 200);
    assert_eq!(search.json().as_array().unwrap().len(), 2 * SLICES);
    assert_eq!(server.store.calls() - before, 4, "head of the prefix, listing, two catalogs");
    for study in ["a", "b"] {
        assert_eq!(server.store.reads_of(&format!("site/{study}/.framegate-catalog")).len(), 1);
    }
    server.stop().await;
}

/// A study of `n` small slices in one series folder of the S3 bucket, written as files (the
/// in-process server keeps each bucket as a folder), catalogued or not.
async fn long_study(n: usize, catalogued: bool) -> Server {
    let server = Server::start_on(Backend::S3, Settings::default()).await;
    let folder = server.dir.path().join(BUCKET).join("st").join("s1");
    std::fs::create_dir_all(&folder).unwrap();
    for i in 0..n {
        sample::write(sample::ct_slice(i, n, 16), &folder.join(format!("{i:05}.dcm"))).unwrap();
    }
    if catalogued {
        assert_eq!(write_catalog(&server).await.catalogued, n);
        server.store.clear();
    }
    server
}

#[tokio::test]
async fn a_long_listing_is_cut_at_the_catalogs_keys_and_its_ranges_read_at_once() {
    // S3 pages a listing 1,000 keys at a time, one after another. With a catalog, the pages
    // after the first start at its every 1,000th key, all at once; the answer is the same.
    const N: usize = 2600;
    let plain = long_study(N, false).await;
    let cut = long_study(N, true).await;
    let s3 = |server: &Server| server.s3.as_ref().unwrap().s3.listings();
    let (plain_before, cut_before) = (s3(&plain).len(), s3(&cut).len());
    let calls = cut.store.calls();
    let answer = get(&cut.url("st", "st", "/-/stack.json")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(cut.store.calls() - calls, 3, "head of the prefix, listing, catalog");
    assert_eq!(cut.store.reads_of(CATALOG).len(), 1, "the catalog is read once, to cut the listing and to index");
    assert_eq!(cut.store.reads_of("st/s1/00000.dcm"), vec![], "no instance is read");
    let expected = get(&plain.url("st", "st", "/-/stack.json")).await;
    assert_eq!(relative(&answer.body), relative(&expected.body));
    assert_eq!(answer.json()["frames"].as_u64(), Some(N as u64));
    // The first page (the catalog and slices 0 to 998), then a range after it to the first cut
    // (slice 1,499), and one after each cut (1,499 and 2,499): one request each.
    let starts: Vec<Option<String>> = s3(&cut)[cut_before..].to_vec();
    assert_eq!(starts[0], None, "{starts:?}");
    let mut rest = starts[1..].to_vec();
    rest.sort();
    let after = |i: usize| Some(format!("st/s1/{i:05}.dcm"));
    assert_eq!(rest, vec![after(998), after(1499), after(2499)], "{starts:?}");
    // Without a catalog: page after page, the rest as one range after the first page.
    let plain_starts = s3(&plain)[plain_before..].to_vec();
    assert_eq!(plain_starts, vec![None, after(999), None], "{plain_starts:?}");
    cut.stop().await;
    plain.stop().await;
}
