//! QIDO-RS: studies, series and instances of a prefix matched against the attributes
//! metadata shows (so a search can never find by a value the policy hides), with
//! `includefield`, `limit` and `offset` (PS3.18 8.3.4, PS3.4 C.2.2.2).

use std::collections::BTreeSet;

use dicom_core::Tag;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_dictionary_std::StandardDataDictionary;
use hyper::Response;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use super::catalog::{self, Instance};
use super::json::{attr, tag_key};
use super::{Level, Root, Scope, json_answer, policy_tag, truncated};
use crate::http::respond::Body;
use crate::http::{ApiError, Ctx};

/// Results one search returns at most, whatever `limit` says.
pub const MAX_LIMIT: usize = 10_000;
/// Characters a wildcard match value may have: more than any matched VR holds (PN's three
/// groups of 64), and a bound on what matching one value costs.
const MAX_PATTERN: usize = 256;

/// Attributes each level returns (PS3.18 Table 6.7.1-2), besides the UIDs of its parents.
const STUDY: &[&str] = &["00080005", "00080020", "00080030", "00080050", "00080056", "00080090", "00081030", "00100010", "00100020", "00100030", "00100040", "0020000D", "00200010"];
const SERIES: &[&str] = &["00080005", "00080021", "00080031", "00080060", "0008103E", "0020000E", "00200011", "00400244", "00400245"];
const INSTANCE: &[&str] = &["00080005", "00080016", "00080018", "00200013", "00280008", "00280010", "00280011", "00280100", "00083002"];

/// Whether `instance` lies in `scope`.
pub fn in_scope(instance: &Instance, scope: &Scope<'_>) -> bool {
    scope.study.is_none_or(|s| s == instance.study) && scope.series.is_none_or(|s| s == instance.series) && scope.sop.is_none_or(|s| s == instance.sop)
}

/// A parsed search query.
#[derive(Debug, Default)]
struct Query {
    /// Attribute (tag key, VR) and the value it must match.
    matches: Vec<(String, String, String)>,
    /// Tags to add to each result; `all` adds every attribute of its first instance.
    include: BTreeSet<String>,
    all: bool,
    limit: Option<usize>,
    offset: usize,
}

fn tag_of(name: &str) -> Result<(String, String), ApiError> {
    let unknown = || ApiError::bad_request(format!("unknown attribute {:?}", truncated(name)));
    let tag = if name.len() == 8 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        let n = u32::from_str_radix(name, 16).map_err(|_| unknown())?;
        Tag((n >> 16) as u16, (n & 0xFFFF) as u16)
    } else {
        StandardDataDictionary.by_name(name).ok_or_else(unknown)?.tag()
    };
    let vr = StandardDataDictionary.by_tag(tag).and_then(|e| match e.vr() {
        dicom_core::dictionary::VirtualVr::Exact(vr) => Some(vr.to_string().to_owned()),
        _ => None,
    });
    Ok((tag_key(tag), vr.unwrap_or_else(|| "UN".into())))
}

impl Query {
    fn parse(query: Option<&str>) -> Result<Query, ApiError> {
        let mut out = Query::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_decode_str(&s.replace('+', " ")).decode_utf8().map(|v| v.into_owned()).map_err(|_| ApiError::bad_request("query is not valid UTF-8"));
            let (name, value) = (decode(name)?, decode(value)?);
            let number = |what: &str| value.parse::<usize>().map_err(|_| ApiError::bad_request(format!("{what} must be a whole number, not {:?}", truncated(&value))));
            match name.as_str() {
                "limit" => out.limit = Some(number("limit")?),
                "offset" => out.offset = number("offset")?,
                // Exact and wildcard matching are what framegate does, whatever is asked.
                "fuzzymatching" => {}
                "includefield" => {
                    for field in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                        if field == "all" {
                            out.all = true;
                        } else {
                            out.include.insert(tag_of(field)?.0);
                        }
                    }
                }
                _ => {
                    if name.contains('.') {
                        return Err(ApiError::bad_request(format!("sequence matching is not supported: {:?}", truncated(&name))));
                    }
                    let (tag, vr) = tag_of(&name)?;
                    if vr != "UI" && value.chars().count() > MAX_PATTERN {
                        return Err(ApiError::bad_request(format!("a match value has at most {MAX_PATTERN} characters: {:?} has more", truncated(&name))));
                    }
                    if out.matches.iter().any(|(t, ..)| *t == tag) {
                        return Err(ApiError::bad_request(format!("attribute {:?} is matched twice", truncated(&name))));
                    }
                    out.matches.push((tag, vr, value));
                }
            }
        }
        Ok(out)
    }
}

/// One result of a search: the instances it stands for, the first standing for all.
struct Entity<'a> {
    instances: Vec<&'a Instance>,
}

impl Entity<'_> {
    /// What the result says: the level's attributes from the first instance and those framegate
    /// counts, then the fields asked for.
    fn attributes(&self, level: Level, query: &Query) -> Map<String, Value> {
        let first = self.instances[0];
        let mut out = Map::new();
        let take = |out: &mut Map<String, Value>, key: &str| {
            if let Some(v) = first.json.get(key) {
                out.insert(key.to_owned(), v.clone());
            }
        };
        let own = match level {
            Level::Study => STUDY,
            Level::Series => SERIES,
            Level::Instance => INSTANCE,
        };
        for key in own.iter().chain(match level {
            Level::Study => &[][..],
            Level::Series => &["0020000D"][..],
            Level::Instance => &["0020000D", "0020000E", "00080060"][..],
        }) {
            take(&mut out, key);
        }
        if query.all {
            out.extend(first.json.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        for key in &query.include {
            take(&mut out, key);
        }
        let count = |n: usize| attr("IS", vec![Value::from(n)]);
        match level {
            Level::Study => {
                let modalities: BTreeSet<String> = self.instances.iter().filter_map(|i| super::json::first_text(&i.json, "00080060")).collect();
                let series: BTreeSet<&str> = self.instances.iter().map(|i| i.series.as_str()).collect();
                out.insert("00080061".into(), attr("CS", modalities.into_iter().map(Value::from).collect()));
                out.insert("00201206".into(), count(series.len()));
                out.insert("00201208".into(), count(self.instances.len()));
            }
            Level::Series => {
                out.insert("00201209".into(), count(self.instances.len()));
            }
            Level::Instance => {}
        }
        out
    }
}

/// Whether the attribute `value` (DICOM JSON) matches `pattern` (PS3.4 C.2.2.2).
fn matches(value: Option<&Value>, vr: &str, pattern: &str) -> bool {
    if pattern.is_empty() {
        return true;
    }
    let values: Vec<String> = value
        .and_then(|v| v.get("Value"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Object(pn) => pn.get("Alphabetic").and_then(Value::as_str).map(str::to_owned),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if values.is_empty() {
        return pattern.chars().all(|c| c == '*');
    }
    match vr {
        "UI" => {
            let wanted: Vec<&str> = pattern.split([',', '\\']).map(str::trim).collect();
            values.iter().any(|v| wanted.contains(&v.as_str()))
        }
        "DA" | "TM" | "DT" if pattern.contains('-') => {
            let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
            let (low, high) = pattern.split_once('-').unwrap_or((pattern, pattern));
            let (low, high) = (digits(low), digits(high));
            values.iter().map(|v| digits(v)).any(|v| (low.is_empty() || v.as_str() >= low.as_str()) && (high.is_empty() || v[..v.len().min(high.len())] <= *high.as_str()))
        }
        "DA" | "TM" | "DT" | "IS" | "DS" | "US" | "UL" | "SS" | "SL" | "FL" | "FD" => values.iter().any(|v| v == pattern),
        // Names are matched without regard to case, as archives commonly do.
        "PN" => values.iter().any(|v| wildcard(&v.to_lowercase(), &pattern.to_lowercase())),
        _ => values.iter().any(|v| wildcard(v, pattern)),
    }
}

/// `*` and `?` wildcards; an exact comparison when there are none. The segments between stars
/// are placed leftmost, each after the one before, and the last at the end: that is all a star
/// allows, so a search costs one pass over the value per segment, found by `str::find` when it
/// has no `?` (linear) and by comparing at each position when it has (at most
/// [`MAX_PATTERN`] characters a position).
fn wildcard(text: &str, pattern: &str) -> bool {
    let segments: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = segments.as_slice() else {
        return prefix_match(text, pattern) == Some(text.len());
    };
    let Some(mut at) = prefix_match(text, first) else { return false };
    for segment in middle.iter().filter(|s| !s.is_empty()) {
        match find(&text[at..], segment) {
            Some(end) => at += end,
            None => return false,
        }
    }
    let rest = &text[at..];
    let width = last.chars().count();
    // The last segment ends the value: it starts `width` characters before the end.
    let start = match width.checked_sub(1) {
        None => rest.len(),
        Some(back) => match rest.char_indices().rev().nth(back) {
            Some((i, _)) => i,
            None => return false,
        },
    };
    prefix_match(&rest[start..], last) == Some(rest.len() - start)
}

/// The bytes of `text` that `segment` (no stars) matches from its start, if it does.
fn prefix_match(text: &str, segment: &str) -> Option<usize> {
    let mut chars = text.char_indices();
    for want in segment.chars() {
        let (_, got) = chars.next()?;
        if want != '?' && want != got {
            return None;
        }
    }
    Some(chars.next().map_or(text.len(), |(i, _)| i))
}

/// Where the leftmost match of `segment` (no stars) in `text` ends.
fn find(text: &str, segment: &str) -> Option<usize> {
    if !segment.contains('?') {
        return text.find(segment).map(|i| i + segment.len());
    }
    text.char_indices().map(|(i, _)| i).find_map(|i| prefix_match(&text[i..], segment).map(|n| i + n))
}

/// Serves a search at `level` within `scope`.
pub async fn serve(ctx: &Ctx<'_>, root: &Root, level: Level, scope: Scope<'_>) -> Result<Response<Body>, ApiError> {
    let query = Query::parse(ctx.query)?;
    let catalog = catalog::catalog(ctx).await?;
    let policy = policy_tag(ctx);
    let level_name = format!("{level:?}");
    let listing = catalog.version.clone();
    let version = [listing.as_bytes(), policy.as_bytes(), b"search", level_name.as_bytes(), scope.study.unwrap_or("").as_bytes(), scope.series.unwrap_or("").as_bytes()];
    let scope = scope.to_owned();
    json_answer(ctx, root, &version, move || {
        let scope = scope.borrowed();
        let mut entities: Vec<Entity<'_>> = Vec::new();
        for instance in catalog.instances.iter().filter(|i| in_scope(i, &scope)) {
            let same = |e: &Entity<'_>| match level {
                Level::Study => e.instances[0].study == instance.study,
                Level::Series => e.instances[0].series == instance.series && e.instances[0].study == instance.study,
                Level::Instance => false,
            };
            // The catalog is ordered by study and series, so a group is always the last one.
            match entities.last_mut() {
                Some(last) if same(last) => last.instances.push(instance),
                _ => entities.push(Entity { instances: vec![instance] }),
            }
        }
        let limit = query.limit.unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
        let results: Vec<Value> = entities
            .iter()
            .map(|e| e.attributes(level, &query))
            .filter(|a| {
                query.matches.iter().all(|(tag, vr, pattern)| {
                    // Computed and level attributes first, then anything the first instance shows.
                    matches(a.get(tag), vr, pattern)
                })
            })
            .skip(query.offset)
            .take(limit)
            .map(Value::Object)
            .collect();
        Ok(serde_json::to_vec(&results).unwrap_or_default())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcards_match_as_qido_says() {
        assert!(wildcard("DOE^JANE", "DOE*"));
        assert!(wildcard("DOE^JANE", "*^J?NE"));
        assert!(!wildcard("DOE^JANE", "DOE"));
        assert!(wildcard("", "*"));
        assert!(wildcard(&"a".repeat(64), &"*a".repeat(30)));
        assert!(wildcard("ÄÖÜ^ß", "?Ö*ß") && !wildcard("ÄÖ", "?Ö?"));
        assert!(wildcard("abcabc", "*bc") && wildcard("abcabc", "a*c*c") && !wildcard("abc", "abc*d"));
    }

    /// The matcher against a plain recursive one, on every short text and pattern over a small
    /// alphabet: the linear placement of segments finds exactly what backtracking finds.
    #[test]
    fn wildcards_agree_with_backtracking_on_every_short_case() {
        fn reference(t: &[char], p: &[char]) -> bool {
            match p.split_first() {
                None => t.is_empty(),
                Some(('*', rest)) => (0..=t.len()).any(|i| reference(&t[i..], rest)),
                Some((c, rest)) => t.split_first().is_some_and(|(h, tail)| (*c == '?' || c == h) && reference(tail, rest)),
            }
        }
        fn all(alphabet: &[char], max: usize) -> Vec<String> {
            let mut out = vec![String::new()];
            let mut last = vec![String::new()];
            for _ in 0..max {
                last = last.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
                out.extend(last.iter().cloned());
            }
            out
        }
        let texts = all(&['a', 'b', 'é'], 5);
        for pattern in all(&['a', 'é', '*', '?'], 4) {
            let p: Vec<char> = pattern.chars().collect();
            for text in &texts {
                let t: Vec<char> = text.chars().collect();
                assert_eq!(wildcard(text, &pattern), reference(&t, &p), "{text:?} against {pattern:?}");
            }
        }
    }

    #[test]
    fn values_match_by_vr() {
        let pn = json!({ "vr": "PN", "Value": [{ "Alphabetic": "Doe^Jane" }] });
        assert!(matches(Some(&pn), "PN", "doe*"));
        assert!(!matches(Some(&pn), "PN", "smith*"));
        let date = json!({ "vr": "DA", "Value": ["20260101"] });
        assert!(matches(Some(&date), "DA", "20250101-20261231"));
        assert!(matches(Some(&date), "DA", "-20260101"));
        assert!(!matches(Some(&date), "DA", "20260102-"));
        let uid = json!({ "vr": "UI", "Value": ["1.2.3"] });
        assert!(matches(Some(&uid), "UI", "1.2.4,1.2.3"));
        assert!(!matches(Some(&uid), "UI", "1.2"));
        assert!(!matches(None, "LO", "x"));
        assert!(matches(None, "LO", ""));
    }

    #[test]
    fn queries_name_attributes_by_keyword_or_tag() {
        let q = Query::parse(Some("PatientName=Doe%5E*&0020000D=1.2&includefield=00081030,Modality&limit=5&offset=2&fuzzymatching=false")).unwrap();
        assert_eq!(q.matches[0], ("00100010".to_owned(), "PN".to_owned(), "Doe^*".to_owned()));
        assert_eq!(q.matches[1].0, "0020000D");
        assert!(q.include.contains("00081030") && q.include.contains("00080060"));
        assert_eq!((q.limit, q.offset), (Some(5), 2));
        assert_eq!(Query::parse(Some("Nonsense=1")).unwrap_err().message, "unknown attribute \"Nonsense\"");
        assert_eq!(Query::parse(Some("limit=-1")).unwrap_err().status.as_u16(), 400);
    }
}
