//! Random mutations of valid token paths, and the check that none is accepted outside the scope
//! it was signed for. Shared by the token test (a few thousand) and the tokens bench (a million).

use framegate::key::ObjectKey;
use framegate::token::Keyring;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A signed scope, a key inside it, and the path that fetches it.
struct Case {
    scope: Vec<String>,
    path: String,
}

const SCOPES: &[&str] = &["ct/series1", "ct/series1/img0001.dcm", "mr", "a b/c%d", "studies/2026/ct/s1"];
const INSIDE: &[&str] = &["", "/img0001.dcm", "/sub/x.dcm", "/img0001.dcm/-/frames/1.jpg", "/-/stack.json"];

fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn case(rng: &mut StdRng, keys: &Keyring, now: u64) -> Case {
    let scope = SCOPES[rng.random_range(0..SCOPES.len())];
    let token = keys.sign(&ObjectKey::parse_plain(scope).unwrap(), now + 3600);
    let segments: Vec<String> = scope.split('/').map(str::to_owned).collect();
    let url_scope: Vec<String> = segments.iter().map(|s| encode(s)).collect();
    let mut inside = INSIDE[rng.random_range(0..INSIDE.len())].to_owned();
    if scope.ends_with(".dcm") && !inside.starts_with("/-/") && !inside.is_empty() {
        inside = String::from("/-/info.json");
    }
    Case { scope: segments, path: format!("/v1/{token}/{}{inside}", url_scope.join("/")) }
}

/// One random mutation of a path: bit flips, other key ids, stretched or shortened scopes,
/// (double) percent-encoding, `..`, trailing slashes, case changes.
fn mutate(rng: &mut StdRng, path: &str) -> String {
    let mut p = path.to_owned();
    for _ in 0..rng.random_range(1..=3) {
        p = match rng.random_range(0..10) {
            0 => {
                let mut bytes = p.into_bytes();
                let i = rng.random_range(4..bytes.len());
                bytes[i] ^= 1 << rng.random_range(0..7);
                String::from_utf8_lossy(&bytes).into_owned()
            }
            1 => p.replacen("/v1/k1.", "/v1/k0.", 1),
            2 => format!("{p}/extra"),
            3 => match p.rfind('/') {
                Some(i) if i > 4 => p[..i].to_owned(),
                _ => p,
            },
            4 => p.replacen("ct", "%63t", 1),
            5 => p.replacen('%', "%25", 1),
            6 => p.replacen("/ct/", "/ct/../", 1),
            7 => format!("{p}/"),
            8 => {
                let i = rng.random_range(4..p.len());
                let (a, b) = p.split_at(i);
                format!("{a}{}", b.to_uppercase())
            }
            _ => {
                // Change the depth field.
                let parts: Vec<&str> = p.splitn(6, '.').collect();
                match parts.as_slice() {
                    [a, b, c, rest @ ..] if rest.len() >= 2 => format!("{a}.{b}.{}.{}", c.replace('2', "3").replace('1', "2"), rest.join(".")),
                    _ => p,
                }
            }
        };
    }
    p
}

/// Mutations tried, accepted (inside the signed scope), and accepted outside it (must be 0).
pub fn run(mutations: usize, seed: u64) -> (usize, usize, usize) {
    let keys = Keyring::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\nk0:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8").unwrap();
    let now = 1_800_000_000;
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut accepted, mut outside) = (0, 0);
    for _ in 0..mutations {
        let case = case(&mut rng, &keys, now);
        let path = mutate(&mut rng, &case.path);
        let path = path.split('?').next().unwrap_or_default();
        if let Ok((key, _)) = framegate::http::authorize(&keys, path, now) {
            accepted += 1;
            if key.segments().get(..case.scope.len()) != Some(&case.scope[..]) {
                outside += 1;
                eprintln!("accepted outside its scope: {path}");
            }
        }
    }
    (mutations, accepted, outside)
}
