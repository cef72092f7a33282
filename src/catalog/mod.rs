//! The stored study catalog: one object per study folder holding every image object's index
//! (key, size, version, header bytes through Pixel Data, frame ranges), so that a cold study is
//! one listing and one GET instead of a ranged read per instance.
//!
//! It is only ever an input to the index: `serve` takes an entry only when the listing it
//! already made shows the same key with the same size and version ([`check`]); everything else
//! is read the old way. Writers ([`build`]): ingest and the upload route after a study's last
//! object is whole, and `framegate catalog` for what is already stored. `serve` never writes.

use crate::key::ObjectKey;

pub mod build;
pub mod check;
pub mod format;

pub use build::{BuildError, Built, backfill, write};
pub use check::{Covered, covered, covered_by, cuts, entries};

/// The catalog's name in its folder. A listing sees it and leaves it out of the objects it
/// serves; a dot keeps it out of a casual `ls`.
pub const NAME: &str = ".framegate-catalog";

/// Whether `key` names a catalog.
pub fn is_catalog(key: &ObjectKey) -> bool {
    key.name() == NAME
}

/// The catalog of the folder `folder`.
pub fn key_in(folder: &ObjectKey) -> Option<ObjectKey> {
    ObjectKey::from_segments(folder.segments().iter().cloned().chain([NAME.to_owned()]).collect()).ok()
}

/// The study folder an object belongs to, for the backfill: two levels above it (the folder
/// above its series folder, where ingest writes a study), but never above `root`, the prefix
/// being catalogued.
pub fn study_folder(object: &ObjectKey, root: &ObjectKey) -> ObjectKey {
    let depth = object.depth().saturating_sub(2).max(root.depth()).min(object.depth().saturating_sub(1)).max(1);
    ObjectKey::from_segments(object.segments()[..depth].to_vec()).unwrap_or_else(|_| root.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> ObjectKey {
        ObjectKey::parse_plain(s).unwrap()
    }

    #[test]
    fn a_study_folder_is_above_the_series_folder_and_within_the_root() {
        assert_eq!(study_folder(&key("in/1.2/1.2.3/4.dcm"), &key("in")).as_str(), "in/1.2");
        assert_eq!(study_folder(&key("in/1.2/4.dcm"), &key("in")).as_str(), "in");
        assert_eq!(study_folder(&key("in/4.dcm"), &key("in")).as_str(), "in");
        assert_eq!(study_folder(&key("ct/s/a.dcm"), &key("ct/s")).as_str(), "ct/s");
        assert_eq!(key_in(&key("in/1.2")).unwrap().as_str(), "in/1.2/.framegate-catalog");
        assert!(is_catalog(&key("in/1.2/.framegate-catalog")));
    }
}
