//! Signed, expiring access tokens: `KID.EXP.DEPTH.PURPOSE.SIG`, pure and clock-free.
//!
//! SIG is base64url (no padding) of HMAC-SHA256(secret, `fg2|KID|EXP|PURPOSE|SCOPE`), where
//! SCOPE is the first DEPTH percent-decoded segments of the object key joined by `/`, and
//! PURPOSE says which routes the token opens ([`Purpose`]). Verification takes `now` so that
//! expiry is a pure function the tests can pin to the second.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::key::ObjectKey;

type HmacSha256 = Hmac<Sha256>;

/// The shortest secret we accept: HMAC-SHA256 gains nothing from more, and less is guessable.
pub const MIN_SECRET_BYTES: usize = 32;
/// A key id is short and URL-safe so it can sit in a path segment without escaping.
const MAX_KID_LEN: usize = 32;
/// Deeper scopes than this are never needed for real keys and bound the work of a verify.
pub const MAX_DEPTH: usize = 64;
/// Domain separation: the version tag in the signed message, so a future scheme cannot collide.
/// `fg1` tokens named no purpose, so each one opened the original files too: none verifies now.
const DOMAIN: &str = "fg2";

/// What a token grants: each purpose opens its own routes and no others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Purpose {
    /// framegate's own routes: frames, info, stacks, the viewer, and raw objects as the
    /// `--raw-dicom` policy hands them out.
    View,
    /// The stored bytes as they are, through the NGINX static route `/files/`.
    Files,
    /// Writing into the prefix (ingest).
    Upload,
}

impl Purpose {
    /// The word in the token and in the signed message.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::View => "view",
            Purpose::Files => "files",
            Purpose::Upload => "upload",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Purpose::View, Purpose::Files, Purpose::Upload].into_iter().find(|p| p.as_str() == s)
    }
}

/// Why a token was refused. Only `Expired` may be told apart by the client (410); every
/// other reason is answered with the same generic 403 so probing learns nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("unknown key id")]
    UnknownKid,
    #[error("signature does not match")]
    BadSignature,
    #[error("object is outside the token's scope")]
    OutOfScope,
    #[error("token is not for this route")]
    WrongPurpose,
    #[error("token has expired")]
    Expired,
}

/// Problems with a keys file, reported at start-up.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("cannot read keys file {path:?}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("keys file line {line}: expected KID:SECRET")]
    Syntax { line: usize },
    #[error("keys file line {line}: key id {kid:?} must be 1-{MAX_KID_LEN} characters of A-Z a-z 0-9 _ -")]
    BadKid { line: usize, kid: String },
    #[error("keys file line {line}: secret is not base64url")]
    BadSecret { line: usize },
    #[error("keys file line {line}: secret is {len} bytes, at least {MIN_SECRET_BYTES} are needed")]
    ShortSecret { line: usize, len: usize },
    #[error("keys file line {line}: key id {kid:?} appears twice")]
    DuplicateKid { line: usize, kid: String },
    #[error("keys file has no keys")]
    Empty,
}

/// One signing key.
struct Key {
    kid: String,
    secret: Vec<u8>,
}

impl fmt::Debug for Key {
    // Secrets never reach a log line, not even through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// The keys a server trusts: the first signs, every one verifies (rotation).
#[derive(Debug)]
pub struct Keyring {
    keys: Vec<Key>,
}

/// What a verified token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Key id that signed it (safe to log).
    pub kid: String,
    /// Unix seconds at which the token stops being valid.
    pub expires: u64,
    /// Number of leading key segments the token covers.
    pub depth: usize,
    /// What the token opens.
    pub purpose: Purpose,
}

impl Grant {
    /// Seconds the token still has at `now`; caches must not keep a response longer.
    pub fn remaining(&self, now: u64) -> u64 {
        self.expires.saturating_sub(now)
    }
}

fn valid_kid(kid: &str) -> bool {
    !kid.is_empty() && kid.len() <= MAX_KID_LEN && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Keyring {
    /// Reads a keys file: `KID:SECRET` per line, `#` comments and blank lines allowed.
    pub fn load(path: &Path) -> Result<Self, KeysError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeysError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text)
    }

    /// Parses the text of a keys file.
    pub fn parse(text: &str) -> Result<Self, KeysError> {
        let mut keys: Vec<Key> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let entry = raw.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let (kid, secret) = entry.split_once(':').ok_or(KeysError::Syntax { line })?;
            let (kid, secret) = (kid.trim(), secret.trim());
            if !valid_kid(kid) {
                return Err(KeysError::BadKid { line, kid: kid.to_owned() });
            }
            let secret = URL_SAFE_NO_PAD.decode(secret.trim_end_matches('=')).map_err(|_| KeysError::BadSecret { line })?;
            if secret.len() < MIN_SECRET_BYTES {
                return Err(KeysError::ShortSecret { line, len: secret.len() });
            }
            if keys.iter().any(|k| k.kid == kid) {
                return Err(KeysError::DuplicateKid { line, kid: kid.to_owned() });
            }
            keys.push(Key { kid: kid.to_owned(), secret });
        }
        if keys.is_empty() {
            return Err(KeysError::Empty);
        }
        Ok(Keyring { keys })
    }

    /// A new keys-file line with a random 256-bit secret.
    pub fn generate_line() -> Result<String, getrandom::Error> {
        let mut secret = [0u8; MIN_SECRET_BYTES];
        let mut id = [0u8; 4];
        getrandom::fill(&mut secret)?;
        getrandom::fill(&mut id)?;
        Ok(format!("k{}:{}", hex::encode(id), URL_SAFE_NO_PAD.encode(secret)))
    }

    /// A secret for another purpose, derived from the signing key, so a deployment needs one
    /// secret only. Rotating the signing key changes it.
    pub fn derive(&self, label: &[u8]) -> Vec<u8> {
        // parse() refuses an empty keyring; HMAC accepts keys of any length.
        let mut mac = HmacSha256::new_from_slice(&self.keys[0].secret).expect("hmac takes any key length");
        mac.update(label);
        mac.finalize().into_bytes().to_vec()
    }

    fn find(&self, kid: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// A viewing token for `scope` (an object key or a key prefix) until `expires`.
    pub fn sign(&self, scope: &ObjectKey, expires: u64) -> String {
        self.sign_for(Purpose::View, scope, expires)
    }

    /// Signs `scope` for `purpose` until `expires` with the first key.
    pub fn sign_for(&self, purpose: Purpose, scope: &ObjectKey, expires: u64) -> String {
        let key = &self.keys[0]; // parse() refuses an empty keyring
        let exp = expires.to_string();
        let sig = mac(key, &exp, purpose, &scope.as_str()).finalize().into_bytes();
        format!("{}.{}.{}.{}.{}", key.kid, exp, scope.depth(), purpose.as_str(), URL_SAFE_NO_PAD.encode(sig))
    }

    /// Checks `token` for the object `key`, on a route that needs `purpose`, at time `now`
    /// (unix seconds).
    ///
    /// The signature is checked before purpose and expiry, so only a genuine token learns it
    /// has expired, and a token for another route is refused like a forged one.
    pub fn verify(&self, token: &str, key: &ObjectKey, purpose: Purpose, now: u64) -> Result<Grant, TokenError> {
        let parsed = ParsedToken::parse(token)?;
        let signer = self.find(parsed.kid).ok_or(TokenError::UnknownKid)?;
        let scope = key.prefix(parsed.depth).ok_or(TokenError::OutOfScope)?;
        let sig = URL_SAFE_NO_PAD.decode(parsed.sig).map_err(|_| TokenError::Malformed)?;
        mac(signer, parsed.exp, parsed.purpose, &scope).verify_slice(&sig).map_err(|_| TokenError::BadSignature)?;
        if parsed.purpose != purpose {
            return Err(TokenError::WrongPurpose);
        }
        if now >= parsed.expires {
            return Err(TokenError::Expired);
        }
        Ok(Grant { kid: parsed.kid.to_owned(), expires: parsed.expires, depth: parsed.depth, purpose })
    }
}

fn mac(key: &Key, exp: &str, purpose: Purpose, scope: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, and ours are at least 32 bytes.
    let mut mac = HmacSha256::new_from_slice(&key.secret).expect("hmac takes any key length");
    for part in [DOMAIN, "|", &key.kid, "|", exp, "|", purpose.as_str(), "|", scope] {
        mac.update(part.as_bytes());
    }
    mac
}

/// The five fields of a token, each checked to be in canonical form so that exactly one
/// spelling of a token verifies.
struct ParsedToken<'a> {
    kid: &'a str,
    exp: &'a str,
    expires: u64,
    depth: usize,
    purpose: Purpose,
    sig: &'a str,
}

impl<'a> ParsedToken<'a> {
    fn parse(token: &'a str) -> Result<Self, TokenError> {
        let mut parts = token.split('.');
        let (Some(kid), Some(exp), Some(depth), Some(purpose), Some(sig), None) = (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(TokenError::Malformed);
        };
        if !valid_kid(kid) || sig.len() != 43 {
            return Err(TokenError::Malformed);
        }
        let expires = canonical_number(exp).ok_or(TokenError::Malformed)?;
        let depth = canonical_number(depth).and_then(|d| usize::try_from(d).ok()).filter(|d| (1..=MAX_DEPTH).contains(d)).ok_or(TokenError::Malformed)?;
        let purpose = Purpose::parse(purpose).ok_or(TokenError::Malformed)?;
        Ok(ParsedToken { kid, exp, expires, depth, purpose, sig })
    }
}

/// A decimal number without sign or leading zeros.
fn canonical_number(s: &str) -> Option<u64> {
    let digits = !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &str = "# test keys\nk1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\nold:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8\n";

    fn key(s: &str) -> ObjectKey {
        ObjectKey::parse_plain(s).unwrap()
    }

    fn ring() -> Keyring {
        Keyring::parse(KEYS).unwrap()
    }

    #[test]
    fn readme_vectors() {
        // The README prints these; they were computed independently with Python's hmac module.
        let ring = ring();
        assert_eq!(ring.sign(&key("ct/series1"), 1_900_000_000), "k1.1900000000.2.view.GB8-5OatB1w_S5bWjLxbE1hSHG383AJxK0tf16g1gUI");
        assert_eq!(ring.sign(&key("ct/series1/img0001.dcm"), 1_700_000_000), "k1.1700000000.3.view.bqJ9AdRGg9eIDaYLVWDz7pP4fZgNkQ2n8XThf6ihgvk");
        assert_eq!(ring.sign_for(Purpose::Files, &key("ct/series1"), 1_900_000_000), "k1.1900000000.2.files.uxsPUIibT61-BP__R9n9HhxWWnbarzfP_rxXGWnPLhg");
    }

    #[test]
    fn prefix_token_covers_its_folder_only() {
        let ring = ring();
        let token = ring.sign(&key("ct/series1"), 2000);
        let grant = ring.verify(&token, &key("ct/series1/img0001.dcm"), Purpose::View, 1000).unwrap();
        assert_eq!(grant.depth, 2);
        assert_eq!(grant.remaining(1000), 1000);
        assert_eq!(ring.verify(&token, &key("ct/series10/img0001.dcm"), Purpose::View, 1000), Err(TokenError::BadSignature));
        assert_eq!(ring.verify(&token, &key("ct"), Purpose::View, 1000), Err(TokenError::OutOfScope));
        assert_eq!(ring.verify(&token, &key("mr/series1/img0001.dcm"), Purpose::View, 1000), Err(TokenError::BadSignature));
    }

    #[test]
    fn file_token_covers_exactly_that_file() {
        let ring = ring();
        let token = ring.sign(&key("ct/s/a.dcm"), 2000);
        assert!(ring.verify(&token, &key("ct/s/a.dcm"), Purpose::View, 1999).is_ok());
        assert_eq!(ring.verify(&token, &key("ct/s/b.dcm"), Purpose::View, 1999), Err(TokenError::BadSignature));
    }

    #[test]
    fn expiry_is_exact_to_the_second() {
        let ring = ring();
        let token = ring.sign(&key("a"), 1000);
        assert!(ring.verify(&token, &key("a"), Purpose::View, 999).is_ok());
        assert_eq!(ring.verify(&token, &key("a"), Purpose::View, 1000), Err(TokenError::Expired));
        assert_eq!(ring.verify(&token, &key("a"), Purpose::View, 5000), Err(TokenError::Expired));
    }

    #[test]
    fn tampering_is_refused() {
        let ring = ring();
        let token = ring.sign(&key("ct/s"), 2000);
        let k = key("ct/s/a.dcm");
        let (head, sig) = token.rsplit_once('.').unwrap();
        let mut flipped = sig.as_bytes().to_vec();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let forged = format!("{head}.{}", String::from_utf8(flipped).unwrap());
        assert_eq!(ring.verify(&forged, &k, Purpose::View, 1000), Err(TokenError::BadSignature));
        let later = token.replacen(".2000.", ".9000.", 1);
        assert_eq!(ring.verify(&later, &k, Purpose::View, 1000), Err(TokenError::BadSignature));
        let shallower = token.replacen(".2.", ".1.", 1);
        assert_eq!(ring.verify(&shallower, &k, Purpose::View, 1000), Err(TokenError::BadSignature));
        let padded = token.replacen(".2000.", ".02000.", 1);
        assert_eq!(ring.verify(&padded, &k, Purpose::View, 1000), Err(TokenError::Malformed));
        let other_kid = token.replacen("k1.", "old.", 1);
        assert_eq!(ring.verify(&other_kid, &k, Purpose::View, 1000), Err(TokenError::BadSignature));
        let unknown = token.replacen("k1.", "zz.", 1);
        assert_eq!(ring.verify(&unknown, &k, Purpose::View, 1000), Err(TokenError::UnknownKid));
        for junk in ["", "a.b.c", "k1.1.1.x", &format!("{token}."), "k1.-5.1.AAAA"] {
            assert_eq!(ring.verify(junk, &k, Purpose::View, 1000), Err(TokenError::Malformed), "{junk}");
        }
    }

    #[test]
    fn a_token_opens_only_the_routes_of_its_purpose() {
        let ring = ring();
        let files = ring.sign_for(Purpose::Files, &key("ct"), 2000);
        let view = ring.sign(&key("ct"), 2000);
        let k = key("ct/a.dcm");
        assert_eq!(ring.verify(&files, &k, Purpose::Files, 1000).map(|g| g.purpose), Ok(Purpose::Files));
        assert_eq!(ring.verify(&files, &k, Purpose::View, 1000), Err(TokenError::WrongPurpose));
        assert_eq!(ring.verify(&view, &k, Purpose::Files, 1000), Err(TokenError::WrongPurpose));
        assert_eq!(ring.verify(&view, &k, Purpose::Upload, 1000), Err(TokenError::WrongPurpose));
        // The purpose is signed: relabelling a view token breaks its signature.
        let relabelled = view.replacen(".view.", ".files.", 1);
        assert_eq!(ring.verify(&relabelled, &k, Purpose::Files, 1000), Err(TokenError::BadSignature));
        // A token of the old format, which named no purpose, is refused.
        assert_eq!(ring.verify("k1.1900000000.1.DBU0K1uZmDiEZJLaVFvEu1FeXXZaD8v6mOH-YPOkyKk", &k, Purpose::View, 1000), Err(TokenError::Malformed));
    }

    #[test]
    fn rotated_key_still_verifies() {
        let old_first = Keyring::parse("old:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8\n").unwrap();
        let token = old_first.sign(&key("a/b"), 2000);
        assert!(token.starts_with("old."));
        assert!(ring().verify(&token, &key("a/b"), Purpose::View, 1000).is_ok());
    }

    #[test]
    fn keys_file_errors_are_specific() {
        assert!(matches!(Keyring::parse("# nothing\n"), Err(KeysError::Empty)));
        assert!(matches!(Keyring::parse("k1 AAAA"), Err(KeysError::Syntax { line: 1 })));
        assert!(matches!(Keyring::parse("\nk1:AAECAw"), Err(KeysError::ShortSecret { line: 2, len: 4 })));
        assert!(matches!(Keyring::parse("k.1:AAECAw"), Err(KeysError::BadKid { .. })));
        assert!(matches!(Keyring::parse("k1:!!!"), Err(KeysError::BadSecret { .. })));
        let twice = format!("{}{}", KEYS.lines().nth(1).unwrap(), "\n") + KEYS.lines().nth(1).unwrap();
        assert!(matches!(Keyring::parse(&twice), Err(KeysError::DuplicateKid { .. })));
    }

    #[test]
    fn generated_lines_parse() {
        let line = Keyring::generate_line().unwrap();
        let ring = Keyring::parse(&line).unwrap();
        let token = ring.sign(&key("x"), 10);
        assert!(ring.verify(&token, &key("x"), Purpose::View, 9).is_ok());
    }
}
