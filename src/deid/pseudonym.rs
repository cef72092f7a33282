//! Deterministic UID pseudonyms: the same UID always maps to the same new one, so a series
//! stays a series, and nobody without the key can map it back.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Maps UIDs to pseudonyms under the `2.25` (UUID) root, keyed by a server secret.
#[derive(Clone)]
pub struct Pseudonyms {
    key: Vec<u8>,
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonyms(..)")
    }
}

impl Pseudonyms {
    /// Pseudonyms under `key` (at least 32 bytes of secret).
    pub fn new(key: Vec<u8>) -> Self {
        Pseudonyms { key }
    }

    /// Pseudonyms of their own for `scope` (a token's prefix), under a key derived from this one:
    /// the same UID maps to unrelated pseudonyms in two scopes.
    pub fn scoped(&self, scope: &str) -> Pseudonyms {
        Pseudonyms { key: self.digest(format!("fg1-scope|{scope}").as_bytes()).to_vec() }
    }

    /// What the access log names a token scope by: a keyed hash, so that lines of one scope
    /// group together while a prefix that names a person is not written down.
    pub fn audit_id(&self, scope: &str) -> String {
        hex::encode(&self.digest(format!("fg1-audit|{scope}").as_bytes())[..16])
    }

    /// A short, non-secret fingerprint of the key, so validators change when it does.
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.digest(b"fg1-fingerprint")[..8])
    }

    fn digest(&self, input: &[u8]) -> [u8; 32] {
        // HMAC accepts keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("hmac takes any key length");
        mac.update(input);
        mac.finalize().into_bytes().into()
    }

    /// The pseudonym of `uid`: `2.25.` and a version 8 (custom) UUID as a decimal integer.
    pub fn uid(&self, uid: &str) -> String {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&self.digest(format!("fg1-uid|{uid}").as_bytes())[..16]);
        bytes[6] = (bytes[6] & 0x0F) | 0x80;
        bytes[8] = (bytes[8] & 0x3F) | 0x80;
        format!("2.25.{}", u128::from_be_bytes(bytes))
    }

    /// The pseudonym of a UID value as stored: its padding (a trailing NUL or space, PS3.5 6.2)
    /// is not part of the UID, so every reader that names an object by it agrees; `None` when
    /// nothing is left.
    pub fn uid_of(&self, value: &str) -> Option<String> {
        let uid = value.trim_end_matches(['\0', ' ']);
        (!uid.is_empty()).then(|| self.uid(uid))
    }

    /// A UID value as a de-identified object shows it: as it is when the standard defines it
    /// (under DICOM's own root, `1.2.840.10008.`: SOP Classes, transfer syntaxes, coding
    /// schemes), its pseudonym otherwise; `None` when nothing is left.
    pub fn shown_uid(&self, value: &str) -> Option<String> {
        let uid = value.trim_end_matches(['\0', ' ']);
        if is_well_known(uid) { Some(uid.to_owned()) } else { self.uid_of(uid) }
    }

    /// How many whole days a patient's dates move back under the Retain Longitudinal Temporal
    /// Information with Modified Dates option: 1 to 3650, from the keyed hash of `patient_id`.
    ///
    /// Keyed, so nobody without the key can compute a patient's offset and undo it; per patient,
    /// so intervals between one patient's studies survive, which is what the option is for; never
    /// zero, so no date is left as it was; up to ten years, enough that the true date cannot be
    /// guessed from the season, while a shifted date stays plausible for the equipment that made
    /// the image. Backwards only, so no date lands in the future.
    pub fn date_shift_days(&self, patient_id: &str) -> i64 {
        let digest = self.digest(format!("fg1-date-shift|{patient_id}").as_bytes());
        let mut word = [0u8; 8];
        word.copy_from_slice(&digest[..8]);
        // The modulo's bias, below 2^-50, tells nobody anything.
        1 + (u64::from_be_bytes(word) % 3650) as i64
    }
}

/// Whether `uid` is one the standard itself defines (PS3.6 Annex A), which names no instance and
/// no site. Only a well-formed UID counts: text in a UI element could be a name.
pub fn is_well_known(uid: &str) -> bool {
    uid.starts_with("1.2.840.10008.") && crate::dicom::is_uid(uid)
}
