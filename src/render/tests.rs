use super::*;
use crate::render::{Palette, Presentation, SampleFormat};

fn grey16(values: &[u16], signed: bool, bits_stored: u16, photometric: &str) -> Pixels {
    Pixels {
        format: SampleFormat {
            rows: 1,
            columns: values.len() as u16,
            samples_per_pixel: 1,
            bits_allocated: 16,
            bits_stored,
            high_bit: bits_stored - 1,
            signed,
            photometric: photometric.into(),
            planar_configuration: 0,
        },
        data: values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>().into(),
        frame: 0,
    }
}

fn pres(slope: f64, intercept: f64, windows: Vec<Window>) -> Presentation {
    Presentation { rescale_slope: slope, rescale_intercept: intercept, windows, ..Presentation::default() }
}

fn render_default(px: &Pixels, p: &Presentation) -> Vec<u8> {
    render(px, p, &RenderParams::default()).unwrap().data
}

#[test]
fn ct_rescale_then_window() {
    // Stored 1024 + HU with intercept -1024; window 40/400 linear (low -160, high 239).
    let px = grey16(&[0, 864, 1064, 1124, 1263, 1264, 4095], false, 12, "MONOCHROME2");
    let w = Window::new(40.0, 400.0, VoiFunction::Linear).unwrap();
    let out = render_default(&px, &pres(1.0, -1024.0, vec![w]));
    // HU: -1024, -160, 40, 100, 239, 240, 3071
    let expect: Vec<u8> = [-1024.0, -160.0, 40.0, 100.0, 239.0, 240.0, 3071.0].iter().map(|&x| w.level(x)).collect();
    assert_eq!(out, expect);
    assert_eq!(out, vec![0, 0, 128, 166, 255, 255, 255]);
}

#[test]
fn query_window_overrides_file_window() {
    let px = grey16(&[1000, 1100], false, 16, "MONOCHROME2");
    let file = Window::new(40.0, 400.0, VoiFunction::Linear).unwrap();
    let asked = Window::new(1050.0, 100.0, VoiFunction::LinearExact).unwrap();
    let params = RenderParams { window: Some(asked), ..RenderParams::default() };
    let out = render(&px, &pres(1.0, 0.0, vec![file]), &params).unwrap().data;
    assert_eq!(out, vec![0, 255]);
}

#[test]
fn monochrome1_is_inverted() {
    let px = grey16(&[0, 100, 200], false, 16, "MONOCHROME1");
    let out = render_default(&px, &pres(1.0, 0.0, vec![]));
    assert_eq!(out, vec![255, 127, 0]);
}

#[test]
fn signed_samples_are_sign_extended_within_bits_stored() {
    // 12 bits stored, signed: 0xFFF is -1, 0x800 is -2048; upper nibble is garbage to mask.
    let px = grey16(&[0xF800, 0xAFFF, 0x0000, 0x07FF], true, 12, "MONOCHROME2");
    let w = Window::new(0.0, 4096.0, VoiFunction::LinearExact).unwrap();
    let out = render(&px, &pres(1.0, 0.0, vec![]), &RenderParams { window: Some(w), ..RenderParams::default() }).unwrap().data;
    assert_eq!(out, vec![w.level(-2048.0), w.level(-1.0), w.level(0.0), w.level(2047.0)]);
    assert_eq!(out, vec![0, 127, 128, 255]);
}

#[test]
fn without_a_window_the_frame_range_is_spanned() {
    let px = grey16(&[100, 150, 200], false, 16, "MONOCHROME2");
    assert_eq!(render_default(&px, &pres(2.0, -100.0, vec![])), vec![0, 128, 255]);
    // A negative slope flips the range but not the mapping of low modality values to black.
    assert_eq!(render_default(&px, &pres(-1.0, 0.0, vec![])), vec![255, 128, 0]);
}

#[test]
fn eight_bit_rgb_planar_and_interleaved_agree() {
    let interleaved = Pixels { format: SampleFormat::colour(1, 2, "RGB"), data: vec![10, 20, 30, 40, 50, 60].into(), frame: 0 };
    let planar = Pixels { format: SampleFormat { planar_configuration: 1, ..interleaved.format.clone() }, data: vec![10, 40, 20, 50, 30, 60].into(), ..interleaved.clone() };
    let p = pres(1.0, 0.0, vec![]);
    assert_eq!(render_default(&interleaved, &p), vec![10, 20, 30, 40, 50, 60]);
    assert_eq!(render_default(&planar, &p), vec![10, 20, 30, 40, 50, 60]);
}

#[test]
fn ybr_full_and_422_convert_to_rgb() {
    let full = Pixels {
        format: SampleFormat::colour(1, 2, "YBR_FULL"),
        // Pure red in YCbCr full range is (76, 85, 255); grey 128 is (128, 128, 128).
        data: vec![76, 85, 255, 128, 128, 128].into(),
        frame: 0,
    };
    let p = pres(1.0, 0.0, vec![]);
    let out = render_default(&full, &p);
    assert!(out[0] >= 253 && out[1] <= 2 && out[2] <= 2, "{out:?}");
    assert_eq!(&out[3..], &[128, 128, 128]);
    let sub = Pixels { format: SampleFormat { photometric: "YBR_FULL_422".into(), ..full.format.clone() }, data: vec![128, 200, 128, 128].into(), ..full };
    assert_eq!(render_default(&sub, &p), vec![128, 128, 128, 200, 200, 200]);
}

#[test]
fn palette_maps_stored_values() {
    let px = Pixels {
        format: SampleFormat {
            rows: 1,
            columns: 3,
            samples_per_pixel: 1,
            bits_allocated: 8,
            bits_stored: 8,
            high_bit: 7,
            signed: false,
            photometric: "PALETTE COLOR".into(),
            planar_configuration: 0,
        },
        data: vec![0, 1, 9].into(),
        frame: 0,
    };
    let palette = Palette { first: 0, bits: 16, channels: [vec![0xFF00, 0], vec![0, 0xFF00], vec![0, 0x8000]] };
    let p = Presentation { palette: Some(palette), ..pres(1.0, 0.0, vec![]) };
    assert_eq!(render_default(&px, &p), vec![255, 0, 0, 0, 255, 128, 0, 255, 128]);
}

#[test]
fn viewport_fits_inside_keeping_aspect() {
    let grey = grey16(&vec![7; 200 * 100], false, 16, "MONOCHROME2");
    let px = Pixels { format: SampleFormat { rows: 100, columns: 200, ..grey.format.clone() }, ..grey };
    let params = RenderParams { viewport: Some((50, 50)), ..RenderParams::default() };
    let out = render(&px, &pres(1.0, 0.0, vec![]), &params).unwrap();
    assert_eq!((out.width, out.height), (50, 25));
    let bigger = RenderParams { viewport: Some((4000, 4000)), ..RenderParams::default() };
    let out = render(&px, &pres(1.0, 0.0, vec![]), &bigger).unwrap();
    assert_eq!((out.width, out.height), (200, 100));
}

#[test]
fn short_data_is_an_error_not_a_panic() {
    let mut px = grey16(&[1, 2, 3], false, 16, "MONOCHROME2");
    px.data.truncate(3);
    assert_eq!(render(&px, &pres(1.0, 0.0, vec![]), &RenderParams::default()), Err(RenderError::Size { got: 3, want: 6 }));
}

#[test]
fn overlays_are_drawn_only_when_asked_after_the_window_and_before_the_viewport() {
    use crate::render::{Overlay, OverlayBits, OverlayKind};
    // A 4×2 image with its left half set in a plane: windowed to 0, overlaid white, then
    // shrunk to 2×1, where the left pixel stays white.
    let grey = grey16(&[0; 8], false, 12, "MONOCHROME2");
    let px = Pixels { format: SampleFormat { rows: 2, columns: 4, ..grey.format.clone() }, ..grey };
    let plane = Overlay {
        group: 0x6000,
        rows: 2,
        columns: 4,
        kind: OverlayKind::Graphics,
        origin: [1, 1],
        frames: 1,
        first_frame: 0,
        per_frame: false,
        bits: OverlayBits::Separate(vec![0b0011_0011]),
    };
    let p = Presentation { overlays: vec![plane], ..pres(1.0, 0.0, vec![Window::new(2048.0, 4096.0, VoiFunction::Linear).unwrap()]) };
    assert_eq!(render_default(&px, &p), vec![0; 8]);
    let drawn = RenderParams { overlays: true, ..RenderParams::default() };
    assert_eq!(render(&px, &p, &drawn).unwrap().data, vec![255, 255, 0, 0, 255, 255, 0, 0]);
    let fitted = render(&px, &p, &RenderParams { viewport: Some((2, 2)), ..drawn }).unwrap();
    assert_eq!((fitted.width, fitted.height), (2, 1));
    assert!(fitted.data[0] > 200 && fitted.data[1] < 55, "{:?}", fitted.data);
}

#[test]
fn the_monotone_table_equals_the_table_of_every_key() {
    // Every window function over rescales rising and falling, windows inside, across and outside
    // the keys, and a level that never changes.
    let windows = [(40.0, 400.0), (-600.0, 1500.0), (5000.0, 10.0), (-5000.0, 1.0), (0.0, 1.0), (100.0, 2.0)];
    for function in [VoiFunction::Linear, VoiFunction::LinearExact, VoiFunction::Sigmoid] {
        for (slope, intercept) in [(1.0, -1024.0), (-0.5, 300.0), (2.5, 0.0)] {
            for (center, width) in windows {
                let window = Window::new(center, width, function).unwrap();
                for invert in [false, true] {
                    let level = |key: u32| {
                        let y = window.level(f64::from(key) * slope + intercept);
                        if invert { 255 - y } else { y }
                    };
                    for (lo, hi) in [(0, 4095), (1000, 1000), (17, 300)] {
                        let every: Vec<u8> = (lo..=hi).map(level).collect();
                        assert_eq!(table(lo, hi, true, level), every, "{function:?} {slope} {intercept} {center}/{width} {invert} {lo}..={hi}");
                    }
                }
            }
        }
    }
}
