//! Framegate's own rule for the overlay groups (60xx), beyond what Table E.1-1 says.
//!
//! The table names only Overlay Data (60xx,3000) and Overlay Comments (60xx,4000), both X, and
//! says nothing of the rest of the group: Overlay Description (60xx,0022), Overlay Subtype
//! (60xx,0045), Overlay Label (60xx,1500), ROI Area, Mean and Standard Deviation
//! (60xx,1301-1303) and retired elements are free text or measurements an operator typed in, and
//! a review found them leaving a file that the README said had no overlay groups. So in an
//! overlay group only what places and sizes an overlay is kept (PS3.3 C.9.2 and C.9.3): an
//! allow-list, so that an element unknown to us is removed too. The table is asked first and
//! wins where it speaks, so Overlay Data is still removed and these few numbers draw nothing.

use dicom_core::Tag;
use dicom_core::dictionary::TagRange;
use dicom_dictionary_std::tags;

use super::Action;

/// The overlay elements that only say where and how large an overlay is.
const GEOMETRY: [TagRange; 8] = [
    tags::OVERLAY_ROWS,
    tags::OVERLAY_COLUMNS,
    tags::NUMBER_OF_FRAMES_IN_OVERLAY,
    tags::OVERLAY_TYPE,
    tags::OVERLAY_ORIGIN,
    tags::IMAGE_FRAME_ORIGIN,
    tags::OVERLAY_BITS_ALLOCATED,
    tags::OVERLAY_BIT_POSITION,
];

/// Remove for every element of an overlay group but its geometry; `None` outside those groups.
pub fn action(tag: Tag) -> Option<Action> {
    // The same span the table's masks and the dictionary give 60xx (6000-60FF); the odd groups
    // in it are private and gone before this is asked.
    if tag.group() & 0xFF00 != 0x6000 {
        return None;
    }
    let geometry = GEOMETRY.iter().any(|range| range.inner().element() == tag.element());
    (!geometry).then_some(Action::Remove)
}
