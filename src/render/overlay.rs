//! Overlay planes drawn over a rendered frame in white: what dcmtk shows for a graphics plane
//! (its "replace" mode at full foreground density), after VOI and MONOCHROME1 inversion.

use super::{Picture, Pixels, Sample};
use super::{Overlay, OverlayBits, packed_bit};

/// Draws every plane that lies on `px`'s frame over `picture`, which is `px` rendered at its
/// own size.
pub fn draw(picture: &mut Picture, planes: &[Overlay], px: &Pixels) {
    for plane in planes {
        let Some(f) = plane.frame_over(px.frame) else { continue };
        match &plane.bits {
            OverlayBits::Separate(data) => {
                let start = u64::from(f) * plane.frame_bits();
                paint(picture, plane, |i| packed_bit(data, start + i as u64));
            }
            OverlayBits::Embedded(bit) => {
                // The bits of the frame drawn on: a frame carries its own plane.
                let sample = Sample::new(px);
                let count = usize::from(px.rows) * usize::from(px.columns);
                if px.samples_per_pixel != 1 || sample.bytes_for(count) > px.data.len() {
                    continue;
                }
                paint(picture, plane, |i| i < count && sample.word(&px.data, i).checked_shr(u32::from(*bit)).is_some_and(|w| w & 1 == 1));
            }
        }
    }
}

/// Whitens each pixel of `picture` under a set bit of `plane`; `set(i)` tells bit `i`, row by
/// row across the plane. Only the part of the plane over the picture is visited.
fn paint(picture: &mut Picture, plane: &Overlay, set: impl Fn(usize) -> bool) {
    let channels = usize::from(picture.channels);
    let (width, height) = (i64::from(picture.width), i64::from(picture.height));
    if picture.data.len() as u64 != u64::from(picture.width) * u64::from(picture.height) * channels as u64 {
        return;
    }
    let (top, left) = (i64::from(plane.origin[0]) - 1, i64::from(plane.origin[1]) - 1);
    let columns = i64::from(plane.columns);
    let rows = (-top).max(0)..i64::from(plane.rows).min(height - top);
    let cols = (-left).max(0)..columns.min(width - left);
    for r in rows {
        for c in cols.clone() {
            // Both are within the plane and the picture, so neither index is negative.
            if set((r * columns + c) as usize) {
                let at = ((top + r) * width + left + c) as usize * channels;
                picture.data[at..at + channels].fill(255);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::SampleFormat;
    use crate::render::OverlayKind;

    fn plane(rows: u16, columns: u16, origin: [i16; 2], bits: OverlayBits) -> Overlay {
        Overlay { group: 0x6000, rows, columns, kind: OverlayKind::Graphics, origin, frames: 1, first_frame: 0, per_frame: false, bits }
    }

    /// Packs row-major bits, least significant first.
    fn pack(bits: &[u8]) -> Vec<u8> {
        bits.chunks(8).map(|c| c.iter().enumerate().fold(0, |byte, (i, b)| byte | b << i)).collect()
    }

    fn grey(width: u32, height: u32) -> Picture {
        Picture { width, height, channels: 1, data: vec![7; (width * height) as usize] }
    }

    fn frame(rows: u16, columns: u16, words: Vec<u16>) -> Pixels {
        Pixels { format: SampleFormat::grey(rows, columns, 16, 12, false), data: words.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>().into(), frame: 0 }
    }

    #[test]
    fn a_separate_plane_is_drawn_at_its_origin_and_clipped_to_the_picture() {
        // A 2×3 plane at row 2, column 3 (from 1) of a 4×4 picture: its last column falls off.
        let bits = pack(&[1, 0, 1, 0, 1, 1]);
        let planes = [plane(2, 3, [2, 3], OverlayBits::Separate(bits))];
        let mut picture = grey(4, 4);
        draw(&mut picture, &planes, &frame(4, 4, vec![0; 16]));
        #[rustfmt::skip]
        assert_eq!(picture.data, vec![
            7, 7, 7, 7,
            7, 7, 255, 7,
            7, 7, 7, 255,
            7, 7, 7, 7,
        ]);
    }

    #[test]
    fn a_plane_above_and_left_of_the_image_is_clipped_too() {
        // A full 3×3 plane whose origin (-1, 0) puts only its last row, less its first column,
        // over the image.
        let planes = [plane(3, 3, [-1, 0], OverlayBits::Separate(pack(&[1; 9])))];
        let mut picture = grey(2, 2);
        draw(&mut picture, &planes, &frame(2, 2, vec![0; 4]));
        assert_eq!(picture.data, vec![255, 255, 7, 7]);
    }

    #[test]
    fn colour_pictures_get_white_pixels() {
        let planes = [plane(1, 2, [1, 1], OverlayBits::Separate(pack(&[0, 1])))];
        let mut picture = Picture { width: 2, height: 1, channels: 3, data: vec![10, 20, 30, 40, 50, 60] };
        draw(&mut picture, &planes, &frame(1, 2, vec![0; 2]));
        assert_eq!(picture.data, vec![10, 20, 30, 255, 255, 255]);
    }

    #[test]
    fn embedded_bits_are_taken_from_the_stored_samples() {
        let planes = [plane(2, 2, [1, 1], OverlayBits::Embedded(15))];
        let mut picture = grey(2, 2);
        draw(&mut picture, &planes, &frame(2, 2, vec![0x8000, 0x0FFF, 0x7000, 0x8123]));
        assert_eq!(picture.data, vec![255, 7, 7, 255]);
    }

    #[test]
    fn multi_frame_planes_draw_the_frame_that_lies_on_the_image_frame() {
        // Two 1×2 frames starting on image frame 2 (index 1): frame 0 of the plane is 10, frame 1 is 01.
        let bits = pack(&[1, 0, 0, 1]);
        let planes = [Overlay { frames: 2, first_frame: 1, per_frame: true, ..plane(1, 2, [1, 1], OverlayBits::Separate(bits)) }];
        let drawn = |n: u32| {
            let mut picture = grey(2, 1);
            draw(&mut picture, &planes, &Pixels { frame: n, ..frame(1, 2, vec![0; 2]) });
            picture.data
        };
        assert_eq!([drawn(0), drawn(1), drawn(2), drawn(3)], [vec![7, 7], vec![255, 7], vec![7, 255], vec![7, 7]]);
    }

    #[test]
    fn inconsistent_planes_draw_nothing_rather_than_panic() {
        // Less data than bits, and an embedded plane over a frame too short for its samples.
        let planes = [plane(4, 4, [1, 1], OverlayBits::Separate(vec![])), plane(4, 4, [1, 1], OverlayBits::Embedded(15))];
        let mut picture = grey(4, 4);
        draw(&mut picture, &planes, &frame(4, 4, vec![0xFFFF; 3]));
        assert_eq!(picture.data, vec![7; 16]);
    }
}
