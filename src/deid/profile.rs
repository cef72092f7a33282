//! The Basic Profile's table (PS3.15 Table E.1-1), loaded from `basic_profile.tsv`.

use std::collections::HashMap;
use std::sync::LazyLock;

use dicom_core::Tag;

/// What the profile does to an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// X: remove.
    Remove,
    /// Z: replace with a zero-length value.
    Empty,
    /// D: replace with a dummy value of the same VR.
    Dummy,
    /// U: replace UIDs with consistent pseudonyms.
    Uid,
    /// X/Z/U*: keep sequences (their items are processed), replace UIDs, empty the rest.
    UidOrEmpty,
}

impl Action {
    /// The table's code to what framegate does. Where the profile leaves a choice ("X unless
    /// Z or D is required to keep the IOD conformant"), the conformant choice is taken.
    fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "X" => Action::Remove,
            "Z" | "X/Z" | "X/Z/D" => Action::Empty,
            "D" | "Z/D" | "X/D" => Action::Dummy,
            "U" => Action::Uid,
            "X/Z/U*" => Action::UidOrEmpty,
            _ => return None,
        })
    }
}

struct Profile {
    exact: HashMap<Tag, Action>,
    /// Rows for whole ranges (curves 50xx, overlays 60xx, the odd groups of private attributes):
    /// (tag, group mask, element mask, action).
    masked: Vec<(Tag, u16, u16, Action)>,
}

static PROFILE: LazyLock<Profile> = LazyLock::new(|| {
    let mut profile = Profile { exact: HashMap::new(), masked: Vec::new() };
    for line in include_str!("basic_profile.tsv").lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split('\t').collect();
        let hex = |i: usize| fields.get(i).and_then(|f| u16::from_str_radix(f, 16).ok());
        // The table is generated and checked by a test; a malformed row is skipped, not fatal.
        let (Some(g), Some(e), Some(gm), Some(em), Some(action)) = (hex(0), hex(1), hex(2), hex(3), fields.get(4).and_then(|c| Action::from_code(c))) else {
            continue;
        };
        if gm == 0xFFFF && em == 0xFFFF {
            profile.exact.insert(Tag(g, e), action);
        } else {
            profile.masked.push((Tag(g, e), gm, em, action));
        }
    }
    profile
});

/// The profile's action for `tag`, if the table names it.
pub fn action(tag: Tag) -> Option<Action> {
    let profile = &*PROFILE;
    profile.exact.get(&tag).copied().or_else(|| {
        profile
            .masked
            .iter()
            .find(|(t, gm, em, _)| tag.group() & gm == t.group() & gm && tag.element() & em == t.element() & em)
            .map(|(_, _, _, action)| *action)
    })
}

/// Rows in the table, for the test that checks it loaded whole.
#[cfg(test)]
pub fn rows() -> usize {
    PROFILE.exact.len() + PROFILE.masked.len()
}
