//! The Basic Profile's table (PS3.15 Table E.1-1) and three of its option columns, loaded from
//! `basic_profile.tsv`.

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

/// What an option column says of an attribute, where it says anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionCode {
    /// K: keep the value.
    Keep,
    /// C: keep the value cleaned (dates modified, descriptors cleaned of identifying text).
    Clean,
}

impl OptionCode {
    /// `-` (blank in the standard) is `None`, as is a code framegate does not know: the Basic
    /// action then applies, which is the safe reading.
    fn from_code(code: &str) -> Option<Self> {
        match code {
            "K" => Some(OptionCode::Keep),
            "C" => Some(OptionCode::Clean),
            _ => None,
        }
    }
}

/// One row of the table: the Basic action and the three option columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// The Basic Profile's action.
    pub action: Action,
    /// Retain Longitudinal Temporal Information with Modified Dates ("Rtn. Long. Modif. Dates").
    pub dates: Option<OptionCode>,
    /// Retain Patient Characteristics ("Rtn. Pat. Chars.").
    pub patient: Option<OptionCode>,
    /// Clean Descriptors ("Clean Desc.").
    pub descriptors: Option<OptionCode>,
}

struct Profile {
    exact: HashMap<Tag, Row>,
    /// Rows for whole ranges (curves 50xx, overlays 60xx, the odd groups of private attributes):
    /// (tag, group mask, element mask, row).
    masked: Vec<(Tag, u16, u16, Row)>,
}

static PROFILE: LazyLock<Profile> = LazyLock::new(|| {
    let mut profile = Profile { exact: HashMap::new(), masked: Vec::new() };
    for line in include_str!("basic_profile.tsv").lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split('\t').collect();
        let hex = |i: usize| fields.get(i).and_then(|f| u16::from_str_radix(f, 16).ok());
        let option = |i: usize| fields.get(i).and_then(|c| OptionCode::from_code(c));
        // The table is generated and checked by a test; a malformed row is skipped, not fatal.
        let (Some(g), Some(e), Some(gm), Some(em), Some(action)) = (hex(0), hex(1), hex(2), hex(3), fields.get(4).and_then(|c| Action::from_code(c))) else {
            continue;
        };
        let row = Row { action, dates: option(5), patient: option(6), descriptors: option(7) };
        if gm == 0xFFFF && em == 0xFFFF {
            profile.exact.insert(Tag(g, e), row);
        } else {
            profile.masked.push((Tag(g, e), gm, em, row));
        }
    }
    profile
});

/// The table's row for `tag`, if it names the attribute.
pub fn row(tag: Tag) -> Option<Row> {
    let profile = &*PROFILE;
    profile
        .exact
        .get(&tag)
        .copied()
        .or_else(|| profile.masked.iter().find(|(t, gm, em, _)| tag.group() & gm == t.group() & gm && tag.element() & em == t.element() & em).map(|(_, _, _, row)| *row))
}

/// The Basic Profile's action for `tag`, if the table names it; the engine asks [`row`].
#[cfg(test)]
pub fn action(tag: Tag) -> Option<Action> {
    row(tag).map(|r| r.action)
}

/// Rows in the table, for the test that checks it loaded whole.
#[cfg(test)]
pub fn rows() -> usize {
    PROFILE.exact.len() + PROFILE.masked.len()
}

/// Rows with a code in each option column (dates, patient, descriptors), for the same test.
#[cfg(test)]
pub fn option_rows() -> (usize, usize, usize) {
    let rows: Vec<Row> = PROFILE.exact.values().copied().chain(PROFILE.masked.iter().map(|m| m.3)).collect();
    let count = |f: fn(&Row) -> Option<OptionCode>| rows.iter().filter(|r| f(r).is_some()).count();
    (count(|r| r.dates), count(|r| r.patient), count(|r| r.descriptors))
}
