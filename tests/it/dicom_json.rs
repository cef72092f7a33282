//! The Method suite of issue 23: WADO-RS metadata under `original` equals pydicom's
//! `Dataset.to_json_dict()`, attribute by attribute, for every file of pydicom's test and
//! character-set files and every fidelity fixture (`it::fixtures`), allowing only the
//! differences PS3.18 F.2 requires ([`Rule`]). A file framegate does not list is accounted for
//! in [`NOT_LISTED`] with its reason. The order test of the same issue is `it::order`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use serde_json::{Map, Value};

use super::fixtures::{fidelity_tools_present, fixtures};
use super::support::*;
use framegate::{RawDicom, Settings};

/// pydicom 3.0.2 (pinned in .ci/run) reads every file once, in one process: its DICOM JSON with
/// every binary value inline, and whether the data set was big endian.
const PYDICOM: &str = r#"
import base64, json, sys, pydicom
# The reference is fixed: another pydicom may read some file differently.
assert pydicom.__version__ == "3.0.2", f"pydicom {pydicom.__version__}, not the pinned 3.0.2"
out = {}
for path in sys.argv[1:]:
    try:
        ds = pydicom.dcmread(path, force=True)
        big = ds.original_encoding[1] is False
        ts = getattr(ds, "file_meta", None) and ds.file_meta.get("TransferSyntaxUID")
        encapsulated = bool(ts and ts.is_encapsulated)
        # Each top-level private element's stored bytes, before anything reads them typed.
        raw = pydicom.dcmread(path, force=True)
        private = {}
        for tag in raw.keys():
            item = raw.get_item(tag)
            if tag.group % 2 == 1 and isinstance(item.value, bytes):
                private[f"{tag.group:04X}{tag.element:04X}"] = base64.b64encode(item.value).decode()
        out[path] = {"big_endian": big, "encapsulated": encapsulated, "private": private, "json": ds.to_json_dict(bulk_data_threshold=1 << 40)}
    except Exception as e:
        out[path] = {"error": type(e).__name__}
print(json.dumps(out))
"#;

/// Files framegate does not list, and why; any other file that is not listed fails the test,
/// and so does one listed here that is.
const NOT_LISTED: &[(&str, &str)] = &[
    // PS3.18 10.4: an instance is addressed by its Study, Series and SOP Instance UIDs.
    ("JPEGLSNearLossless_08.dcm", "no Study or Series Instance UID"),
    ("JPEGLSNearLossless_16.dcm", "no Study or Series Instance UID"),
    ("SC_rgb_jls_lossy_line.dcm", "no Study or Series Instance UID"),
    ("SC_rgb_jls_lossy_sample.dcm", "no Study or Series Instance UID"),
    ("chrSQEncoding.dcm", "no UIDs: a data set of a few attributes"),
    ("chrSQEncoding1.dcm", "no UIDs: a data set of a few attributes"),
    ("UN_sequence.dcm", "no UIDs: one private UN sequence"),
    ("empty_charset_LEI.dcm", "no UIDs"),
    ("priv_SQ.dcm", "no UIDs: one private sequence"),
    ("nested_priv_SQ.dcm", "no UIDs, and Pixel Data without Bits Allocated (422)"),
    // Unreadable as stored.
    ("ExplVR_BigEndNoMeta.dcm", "a bare data set in big endian, without preamble or meta group: framegate tells only little-endian bare data sets (422 not a DICOM file)"),
    ("no_meta.dcm", "a bare data set whose first group is not 0008 (422 not a DICOM file)"),
    ("meta_missing_tsyntax.dcm", "a meta group without Transfer Syntax UID (422)"),
    ("no_meta_group_length.dcm", "a meta group without its group length, which dicom-rs requires (422)"),
    ("MR_truncated.dcm", "cut short inside Pixel Data (422)"),
    ("SC_rgb_jpeg.dcm", "an element's length points past the end of the file (422)"),
    ("rtplan_truncated.dcm", "an element's length points past the end of the file (422)"),
];

/// Files pydicom cannot give as DICOM JSON, and why; framegate lists them, and nothing is
/// compared.
const PYDICOM_CANNOT: &[(&str, &str)] = &[("badVR.dcm", "Number of Frames reads \"1A\", which to_json_dict cannot make a number")];

/// Where framegate differs from pydicom beyond PS3.18 F.2, by a rule of its own that the
/// standard supports, applied to pydicom's side too, each named with its rule.
#[derive(Debug, Clone, Copy)]
enum Reading {
    /// PS3.5 A.4: encapsulated Pixel Data is OB, whatever VR a writer gave it (pydicom keeps
    /// the written OW).
    EncapsulatedPixelDataIsOb,
    /// PS3.18 F.2 and PS3.5 6.1.2.5: JSON text is Unicode; framegate decodes every value (as
    /// pydicom does) and, where one was not ASCII, says so with Specific Character Set
    /// `ISO_IR 192`, where pydicom keeps the stored terms beside the decoded values.
    TextIsUtf8,
    /// PS3.5 6.2.2: a private element of an Implicit VR file has no VR but what a vendor's
    /// private dictionary says; pydicom has such dictionaries, framegate does not, and gives UN
    /// with the stored bytes (PS3.18 F.2.3 allows UN).
    PrivateImplicitIsUn,
}

const READINGS: &[Reading] = &[Reading::EncapsulatedPixelDataIsOb, Reading::TextIsUtf8, Reading::PrivateImplicitIsUn];

/// The differences PS3.18 F.2 requires between DICOM JSON and a reading of the stored bytes,
/// each applied to pydicom's side before the two are compared.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// F.2: group length elements (gggg,0000) are not included.
    NoGroupLengths,
    /// F.2: Data Set Trailing Padding (FFFC,FFFC) is not included.
    NoTrailingPadding,
    /// F.2.5 (and PS3.5 6.2): the padding of a value to even length (trailing spaces, a
    /// trailing NUL of a UI) is not part of the value.
    NoValuePadding,
    /// F.2.5: an empty value of a multi-valued element is `null`.
    EmptyValueIsNull,
    /// F.2.5: a CS value has no trailing spaces.
    CsWithoutSpaces,
    /// F.2.7 and 8.7.1: bulk data of a big-endian object is served little endian, so its
    /// inline binary values are too (OW, OF, OL, OD, OV swapped per value).
    BigEndianBulkDataLittleEndian,
}

const RULES: &[Rule] = &[Rule::NoGroupLengths, Rule::NoTrailingPadding, Rule::NoValuePadding, Rule::EmptyValueIsNull, Rule::CsWithoutSpaces, Rule::BigEndianBulkDataLittleEndian];

fn corpus() -> Option<Vec<PathBuf>> {
    let base = std::env::var_os("FRAMEGATE_PYDICOM_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pydicom/pydicom/data/test_files"));
    let charsets = base.parent()?.join("charset_files");
    if !base.is_dir() || !charsets.is_dir() {
        skip(&format!("pydicom test files missing in {base:?} (run bash .ci/fetch-pydicom, as .ci/run does)"));
        return None;
    }
    let mut files = Vec::new();
    for dir in [base, charsets] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "dcm") {
                files.push(path);
            }
        }
    }
    files.sort();
    Some(files)
}

fn pydicom_reads(files: &[PathBuf]) -> Map<String, Value> {
    let out = std::process::Command::new("python3").arg("-c").arg(PYDICOM).args(files).output().expect("python3 runs");
    assert!(out.status.success(), "pydicom: {}", String::from_utf8_lossy(&out.stderr));
    let Value::Object(read) = serde_json::from_slice(&out.stdout).expect("pydicom's JSON") else { panic!("not an object") };
    read
}

/// Applies every rule to pydicom's element `e` (of a big-endian object when `big`).
fn normalise(e: &Value, big: bool) -> Value {
    let Some(obj) = e.as_object() else { return e.clone() };
    let vr = obj.get("vr").and_then(Value::as_str).unwrap_or_default();
    let mut out = obj.clone();
    if let Some(Value::Array(values)) = obj.get("Value") {
        let values: Vec<Value> = values
            .iter()
            .map(|v| match v {
                Value::Object(item) if vr == "SQ" => Value::Object(dataset(item, big)),
                Value::String(s) => {
                    // Rule::NoValuePadding and Rule::CsWithoutSpaces.
                    let s = s.trim_end_matches(['\0', ' ']);
                    // Rule::EmptyValueIsNull.
                    if s.is_empty() { Value::Null } else { Value::from(s) }
                }
                other => other.clone(),
            })
            .collect();
        out.insert("Value".into(), Value::Array(values));
    }
    if big && let Some(Value::String(b64)) = obj.get("InlineBinary") {
        // Rule::BigEndianBulkDataLittleEndian.
        let width = match vr {
            "OW" => 2,
            "OF" | "OL" => 4,
            "OD" | "OV" => 8,
            _ => 1,
        };
        let mut bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap_or_default();
        if width > 1 {
            bytes.chunks_exact_mut(width).for_each(<[u8]>::reverse);
        }
        out.insert("InlineBinary".into(), Value::from(base64::engine::general_purpose::STANDARD.encode(bytes)));
    }
    Value::Object(out)
}

fn dataset(obj: &Map<String, Value>, big: bool) -> Map<String, Value> {
    // Rule::NoGroupLengths and Rule::NoTrailingPadding.
    obj.iter().filter(|(tag, _)| !tag.ends_with("0000") && *tag != "FFFCFFFC").map(|(tag, e)| (tag.clone(), normalise(e, big))).collect()
}

/// Applies [`READINGS`] to pydicom's top-level data set `want`, knowing framegate's `got` and
/// the stored bytes of each private element (`private`).
fn read_as_framegate(want: &mut Map<String, Value>, got: &Map<String, Value>, encapsulated: bool, stored: &Value) {
    if encapsulated && let Some(Value::Object(pixel)) = want.get_mut("7FE00010") {
        pixel.insert("vr".into(), Value::from("OB"));
    }
    // Only where framegate decoded a value that is not ASCII does it relabel; the values
    // themselves are compared as they are.
    if want.contains_key("00080005") && got.get("00080005").is_some_and(|g| g["Value"] == serde_json::json!(["ISO_IR 192"])) {
        want.insert("00080005".into(), serde_json::json!({ "vr": "CS", "Value": ["ISO_IR 192"] }));
    }
    for (tag, e) in want.iter_mut() {
        let private = u16::from_str_radix(&tag[..4], 16).is_ok_and(|g| g % 2 == 1);
        let stored = private_bytes(stored, tag);
        if private
            && got.get(tag).is_some_and(|g| g["vr"] == "UN")
            && e["vr"] != "UN"
            && let Some(stored) = stored
        {
            // Reading::PrivateImplicitIsUn: framegate's UN value is compared with the stored
            // bytes, not pydicom's typed value.
            *e = serde_json::json!({ "vr": "UN", "InlineBinary": stored });
        }
    }
}

/// Numbers compare by value (pydicom writes `1.0` where framegate may write `1`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w))),
        _ => a == b,
    }
}

/// The differences between framegate's data set `got` and pydicom's `want` (normalised),
/// under `path`; a `BulkDataURI` of framegate's is fetched and compared with pydicom's inline
/// value.
async fn compare(got: &Map<String, Value>, want: &Map<String, Value>, path: &str, diffs: &mut Vec<String>) {
    for (tag, w) in want {
        let Some(g) = got.get(tag) else {
            diffs.push(format!("{path}{tag}: missing, pydicom {}", short(w)));
            continue;
        };
        if g["vr"] != w["vr"] {
            diffs.push(format!("{path}{tag}: vr {} where pydicom {}", g["vr"], w["vr"]));
            continue;
        }
        if let Some(uri) = g.get("BulkDataURI").and_then(Value::as_str) {
            let r = request("GET", uri, &[("accept", "application/octet-stream")]).await;
            let want = base64::engine::general_purpose::STANDARD.decode(w["InlineBinary"].as_str().unwrap_or_default()).unwrap_or_default();
            // Compressed Pixel Data is served by its frames (406), which it::pydicom checks.
            if !(r.status == 406 && tag == "7FE00010") && (r.status != 200 || r.body.to_vec() != want) {
                diffs.push(format!("{path}{tag}: bulk data {} of {} bytes, pydicom {} bytes", r.status, r.body.len(), want.len()));
            }
            continue;
        }
        if w["vr"] == "SQ" {
            let (gi, wi) = (g["Value"].as_array().cloned().unwrap_or_default(), w["Value"].as_array().cloned().unwrap_or_default());
            if gi.len() != wi.len() {
                diffs.push(format!("{path}{tag}: {} items, pydicom {}", gi.len(), wi.len()));
                continue;
            }
            for (i, (a, b)) in gi.iter().zip(&wi).enumerate() {
                Box::pin(compare(a.as_object().unwrap_or(&Map::new()), b.as_object().unwrap_or(&Map::new()), &format!("{path}{tag}[{i}]."), diffs)).await;
            }
            continue;
        }
        if !same(g, w) {
            diffs.push(format!("{path}{tag}: {} where pydicom {}", short(g), short(w)));
        }
    }
    for tag in got.keys().filter(|t| !want.contains_key(*t)) {
        // Available Transfer Syntax UID is the origin server's to add (PS3.18 10.4.1.2).
        if path.is_empty() && tag == "00083002" {
            continue;
        }
        diffs.push(format!("{path}{tag}: {} that pydicom has not", short(&got[tag])));
    }
}

fn private_bytes<'a>(private: &'a Value, tag: &str) -> Option<&'a str> {
    private.get(tag).and_then(Value::as_str)
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 120 { format!("{}…", &s[..s.char_indices().nth(120).map_or(s.len(), |(i, _)| i)]) } else { s }
}

/// Issue 23, Method: for every file of pydicom's test and character-set files and every
/// fidelity fixture, WADO-RS
/// metadata under `original` equals `to_json_dict()` after [`RULES`].
#[tokio::test]
async fn metadata_of_every_corpus_file_equals_pydicoms_json() {
    let Some(mut files) = corpus() else { return };
    // The fidelity fixtures, one per transfer syntax dcmtk writes (when its tools are here).
    let fixtures_dir = tempfile::tempdir().unwrap();
    if fidelity_tools_present() {
        for fixture in fixtures(fixtures_dir.path()) {
            let named = fixtures_dir.path().join(format!("fixture-{}.dcm", fixture.name.replace(['/', ' '], "-")));
            std::fs::copy(&fixture.file, &named).unwrap();
            files.push(named);
        }
    }
    if !have_tool("python3") {
        return;
    }
    let read = pydicom_reads(&files);
    eprintln!("rules applied to pydicom's side: {RULES:?}, and framegate's readings: {READINGS:?}");
    let server = Server::start_with(Settings { raw_dicom: RawDicom::Original, ..Default::default() }).await;
    let mut diffs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut not_listed = Vec::new();
    let mut compared = 0;
    for (i, file) in files.iter().enumerate() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let key = format!("m/{i}/{name}");
        server.put(&key, std::fs::read(file).unwrap()).await;
        let root = server.url("m", &key, "/-/dicomweb");
        let listed = get(&format!("{root}/instances")).await;
        let instances = if listed.status == 200 { listed.json().as_array().cloned().unwrap_or_default() } else { Vec::new() };
        let expected = NOT_LISTED.iter().find(|(n, _)| *n == name);
        let Some(instance) = instances.first() else {
            if expected.is_none() {
                let info = get(&server.url("m", &key, "/-/info.json")).await;
                not_listed.push(format!("{name}: info.json says {} {}", info.status, String::from_utf8_lossy(&info.body[..info.body.len().min(160)])));
            }
            continue;
        };
        assert!(expected.is_none(), "{name} is listed, but NOT_LISTED says {:?}", expected.map(|e| e.1));
        let uid = |tag: &str| instance[tag]["Value"][0].as_str().unwrap_or_default().to_owned();
        let metadata = get(&format!("{root}/studies/{}/series/{}/instances/{}/metadata", uid("0020000D"), uid("0020000E"), uid("00080018"))).await;
        assert_eq!(metadata.status, 200, "{name}");
        let got = metadata.json()[0].as_object().cloned().unwrap_or_default();
        let Some(reference) = read.get(&file.to_string_lossy().into_owned()) else { panic!("{name}: not read by pydicom") };
        let Some(want) = reference["json"].as_object() else {
            if !PYDICOM_CANNOT.iter().any(|(n, _)| *n == name) {
                diffs.entry(name).or_default().push(format!("pydicom cannot read it ({}) but framegate lists it", reference["error"]));
            }
            continue;
        };
        let mut want = dataset(want, reference["big_endian"] == true);
        read_as_framegate(&mut want, &got, reference["encapsulated"] == true, &reference["private"]);
        let mut found = Vec::new();
        compare(&got, &want, "", &mut found).await;
        compared += 1;
        if !found.is_empty() {
            diffs.insert(name, found);
        }
    }
    server.stop().await;
    eprintln!("{} files, {} compared with pydicom", files.len(), compared);
    assert!(diffs.is_empty() && not_listed.is_empty(), "{} files differ from pydicom: {diffs:#?}\nnot listed, and not in NOT_LISTED: {not_listed:#?}", diffs.len());
}
