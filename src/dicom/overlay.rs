//! Overlay planes (PS3.3 C.9.2): one-bit bitmaps in the repeating groups 6000–601E, kept in
//! their own Overlay Data or in Pixel Data's unused high bits.
//!
//! Only geometry and bits are read: an overlay's label and description are free text and stay in
//! the file. Which planes count, and which image frames they lie on, follows dcmtk's
//! `DiOverlayPlane`, the renderer framegate is compared with.

use dicom_core::Tag;
use dicom_core::dictionary::TagRange;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::Image;
use super::attrs::{code, int};
use crate::render::{Overlay, OverlayBits, OverlayKind};

/// The planes of a header that can be drawn, in group order. A plane missing an attribute dcmtk
/// requires, or whose data is shorter than it declares, is left out as dcmtk leaves it out.
/// `native`: Pixel Data is stored uncompressed, the only form embedded bits are read from.
pub fn planes(obj: &InMemDicomObject, image: &Image, native: bool) -> Vec<Overlay> {
    (0x6000..=0x601E).step_by(2).filter_map(|group| plane(obj, group, image, native)).collect()
}

fn plane(obj: &InMemDicomObject, group: u16, image: &Image, native: bool) -> Option<Overlay> {
    let tag = |range: TagRange| Tag(group, range.inner().element());
    let rows = int::<u16>(obj, tag(tags::OVERLAY_ROWS)).filter(|r| *r > 0)?;
    let columns = int::<u16>(obj, tag(tags::OVERLAY_COLUMNS)).filter(|c| *c > 0)?;
    let origin: Vec<i16> = obj.get(tag(tags::OVERLAY_ORIGIN))?.to_multi_int().ok()?;
    let &[row, column, ..] = origin.as_slice() else { return None };
    // dcmtk requires both; the values it then assumes for them are read below.
    int::<u16>(obj, tag(tags::OVERLAY_BITS_ALLOCATED))?;
    let bit_position = int::<u16>(obj, tag(tags::OVERLAY_BIT_POSITION))?;
    let count = obj.get(tag(tags::NUMBER_OF_FRAMES_IN_OVERLAY));
    let frames = count.and_then(|e| e.to_int::<i64>().ok()).and_then(|n| u32::try_from(n).ok()).unwrap_or(1).max(1);
    let first_frame = u32::from(int::<u16>(obj, tag(tags::IMAGE_FRAME_ORIGIN)).unwrap_or(1).saturating_sub(1));
    let mut overlay = Overlay {
        group,
        rows,
        columns,
        kind: if code(obj, tag(tags::OVERLAY_TYPE)).as_deref() == Some("R") { OverlayKind::Roi } else { OverlayKind::Graphics },
        origin: [row, column],
        frames,
        first_frame,
        per_frame: count.is_some(),
        bits: OverlayBits::Embedded(0),
    };
    let data = obj.get(tag(tags::OVERLAY_DATA)).and_then(|e| e.to_bytes().ok()).filter(|d| !d.is_empty());
    overlay.bits = match data {
        Some(data) => {
            // Declared sizes are only compared with the data held, never allocated from.
            let bits = overlay.frame_bits().checked_mul(u64::from(frames))?;
            let bytes = usize::try_from(bits.div_ceil(8)).ok().filter(|b| *b <= data.len())?;
            OverlayBits::Separate(data[..bytes].to_vec())
        }
        None => OverlayBits::Embedded(embedded_bit(image, bit_position, native)?),
    };
    if overlay.is_embedded() {
        // Bits in Pixel Data start with the frame shown (Supplement 4), and a plane cannot
        // hold more bits than a frame has samples.
        overlay.first_frame = 0;
        if overlay.frame_bits() > image.pixels() {
            return None;
        }
    }
    Some(overlay)
}

/// The bit of each sample an embedded plane lives in: dcmtk reads it from uncompressed 16-bit
/// grey samples only, takes a position past the sample as its top bit, and refuses a bit
/// inside Bits Stored, which is the image itself.
fn embedded_bit(image: &Image, bit_position: u16, native: bool) -> Option<u16> {
    if !native || image.bits_allocated != 16 || image.samples_per_pixel != 1 {
        return None;
    }
    let bit = bit_position.min(15);
    let lowest_stored = image.high_bit + 1 - image.bits_stored;
    (!(lowest_stored..=image.high_bit).contains(&bit)).then_some(bit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::SampleFormat;
    use crate::render::packed_bit;
    use dicom_core::{DataElement, PrimitiveValue, VR};

    fn ct_image() -> Image {
        Image { format: SampleFormat::grey(4, 4, 16, 12, false), frames: 1 }
    }

    fn el(group: u16, range: TagRange, vr: VR, value: PrimitiveValue) -> DataElement<InMemDicomObject> {
        DataElement::new(Tag(group, range.inner().element()), vr, value)
    }

    /// A 4×4 plane in `group` at row 1, column 2, with `data` as its Overlay Data when given.
    fn header(group: u16, data: Option<Vec<u8>>, bit_position: u16) -> InMemDicomObject {
        let mut obj = InMemDicomObject::from_element_iter([
            el(group, tags::OVERLAY_ROWS, VR::US, PrimitiveValue::from(4u16)),
            el(group, tags::OVERLAY_COLUMNS, VR::US, PrimitiveValue::from(4u16)),
            el(group, tags::OVERLAY_TYPE, VR::CS, PrimitiveValue::from("G")),
            el(group, tags::OVERLAY_ORIGIN, VR::SS, PrimitiveValue::from([1i16, 2])),
            el(group, tags::OVERLAY_BITS_ALLOCATED, VR::US, PrimitiveValue::from(if data.is_some() { 1u16 } else { 16 })),
            el(group, tags::OVERLAY_BIT_POSITION, VR::US, PrimitiveValue::from(bit_position)),
            el(group, tags::OVERLAY_LABEL, VR::LO, PrimitiveValue::from("PLANTED^LABEL")),
        ]);
        if let Some(data) = data {
            obj.put(el(group, tags::OVERLAY_DATA, VR::OW, PrimitiveValue::from(data)));
        }
        obj
    }

    #[test]
    fn packed_bits_are_read_least_significant_first() {
        let data = [0b0000_0101, 0b1000_0000];
        let set: Vec<u64> = (0..17).filter(|i| packed_bit(&data, *i)).collect();
        assert_eq!(set, vec![0, 2, 15]);
        assert!(!packed_bit(&data, u64::MAX));
    }

    #[test]
    fn a_separate_plane_is_read_and_cut_to_its_declared_bits() {
        let obj = header(0x6002, Some(vec![0xFF, 0x0F, 0xAA, 0xBB]), 0);
        let planes = planes(&obj, &ct_image(), true);
        assert_eq!(planes.len(), 1);
        let plane = &planes[0];
        assert_eq!((plane.group, plane.rows, plane.columns, plane.origin, plane.kind), (0x6002, 4, 4, [1, 2], OverlayKind::Graphics));
        assert_eq!((plane.frames, plane.first_frame, plane.per_frame), (1, 0, false));
        // 16 bits are two bytes: the rest of the value (padding) is not kept.
        assert_eq!(plane.bits, OverlayBits::Separate(vec![0xFF, 0x0F]));
    }

    #[test]
    fn data_shorter_than_declared_leaves_the_plane_out() {
        let mut obj = header(0x6000, Some(vec![0xFF, 0xFF]), 0);
        obj.put(el(0x6000, tags::NUMBER_OF_FRAMES_IN_OVERLAY, VR::IS, PrimitiveValue::from("2147483647")));
        assert_eq!(planes(&obj, &ct_image(), true), vec![]);
        obj.put(el(0x6000, tags::NUMBER_OF_FRAMES_IN_OVERLAY, VR::IS, PrimitiveValue::from("1")));
        assert_eq!(planes(&obj, &ct_image(), true).len(), 1);
        obj.remove_element(Tag(0x6000, 0x0010));
        assert_eq!(planes(&obj, &ct_image(), true), vec![]);
    }

    #[test]
    fn embedded_planes_need_a_free_bit_of_native_16_bit_grey_samples() {
        let obj = header(0x6000, None, 15);
        assert_eq!(planes(&obj, &ct_image(), true)[0].bits, OverlayBits::Embedded(15));
        assert_eq!(planes(&obj, &ct_image(), false), vec![], "compressed");
        assert_eq!(planes(&header(0x6000, None, 11), &ct_image(), true), vec![], "inside Bits Stored");
        assert_eq!(planes(&header(0x6000, None, 20), &ct_image(), true)[0].bits, OverlayBits::Embedded(15));
        let eight = Image { format: SampleFormat { bits_allocated: 8, bits_stored: 7, high_bit: 6, ..ct_image().format }, ..ct_image() };
        assert_eq!(planes(&header(0x6000, None, 7), &eight, true), vec![]);
        let small = Image { format: SampleFormat { rows: 2, ..ct_image().format }, ..ct_image() };
        assert_eq!(planes(&obj, &small, true), vec![], "more bits than samples");
    }

    #[test]
    fn frames_follow_number_of_frames_and_image_frame_origin() {
        let mut obj = header(0x6000, Some(vec![0; 6]), 0);
        let single = &planes(&obj, &ct_image(), true)[0];
        assert_eq!((0..3).map(|n| single.frame_over(n)).collect::<Vec<_>>(), vec![Some(0); 3]);
        obj.put(el(0x6000, tags::NUMBER_OF_FRAMES_IN_OVERLAY, VR::IS, PrimitiveValue::from("3")));
        obj.put(el(0x6000, tags::IMAGE_FRAME_ORIGIN, VR::US, PrimitiveValue::from(2u16)));
        let multi = &planes(&obj, &ct_image(), true)[0];
        assert_eq!((0..5).map(|n| multi.frame_over(n)).collect::<Vec<_>>(), vec![None, Some(0), Some(1), Some(2), None]);
    }

    #[test]
    fn only_even_groups_up_to_601e_are_planes() {
        for group in [0x6001, 0x6020, 0x6100] {
            assert_eq!(planes(&header(group, Some(vec![0; 2]), 0), &ct_image(), true), vec![], "{group:04X}");
        }
        assert_eq!(planes(&header(0x601E, Some(vec![0; 2]), 0), &ct_image(), true).len(), 1);
    }
}
