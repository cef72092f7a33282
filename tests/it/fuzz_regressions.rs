//! Every crash the fuzzers found, run through the same harness, must now return normally.

use std::path::Path;

fn input(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz").join(name)).unwrap()
}

#[test]
fn an_item_offset_past_the_end_is_an_error_not_a_slice_panic() {
    // An encapsulated header whose fragment walk pointed before its own start.
    assert_eq!(framegate::fuzzing::index(&input("index-backwards-offset.bin")), None);
}

#[test]
fn an_rle_segment_shorter_than_its_frame_is_an_error_not_a_panic() {
    // dicom-rs's RLE decoder indexed past a short segment; framegate's own decoder refuses it.
    let refused = framegate::fuzzing::rle_frame(&input("frame-rle-short-segment.bin"));
    assert_eq!(refused, Err("malformed DICOM: an RLE segment is shorter than the image".to_owned()));
}

#[test]
fn an_rle_header_with_a_huge_segment_count_is_refused_before_the_decoder_allocates() {
    // dicom-rs allocated and sliced by the declared count: libFuzzer saw it run out of memory.
    // framegate's decoder takes the count from the image and refuses a header that differs.
    let refused = framegate::fuzzing::rle_frame(&input("frame-rle-segment-count.bin"));
    assert_eq!(refused, Err("malformed DICOM: an RLE frame's segment count does not match the image".to_owned()));
}

#[test]
fn big_endian_one_bit_data_has_nothing_to_swap() {
    // Swapping in chunks of bits_allocated / 8 bytes panicked on a zero chunk for 1-bit samples;
    // this input is a 3×2 MONOCHROME1 frame of 1-bit samples in explicit big endian.
    let jpeg = framegate::fuzzing::frame(&input("frame-big-endian-1-bit.bin"));
    assert!(jpeg.is_ok(), "{jpeg:?}");
}

#[test]
fn native_ybr_422_with_an_odd_pixel_count_is_measured_by_whole_groups() {
    // A 1×1 YBR_FULL_422 frame of 32-bit samples: its one pixel's Y Y Cb Cr group (16 bytes) was
    // read from 10 bytes, because the check counted two samples per pixel.
    let refused = framegate::fuzzing::frame(&input("frame-ybr422-odd-width.bin"));
    assert_eq!(refused, Err("decoded frame holds 10 bytes, 16 expected".to_owned()));
}

#[test]
fn a_binary_value_of_odd_length_cannot_desynchronise_the_parser() {
    // An FL element of 2 bytes: dicom-parser read no value and took the next bytes for a header
    // declaring 4 GiB, which it allocated. The walk now refuses such lengths first.
    assert_eq!(framegate::fuzzing::index(&input("index-odd-binary-length.bin")), None);
}

/// Each fuzz target's seed corpus, and seeded mutations of it, through the harness that target
/// calls. CI builds the libFuzzer targets once, with the production codecs; this replay is how
/// the default build's decoders meet the same inputs on every `cargo test`.
#[test]
fn the_seed_corpora_and_their_mutations_return_normally() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    type Harness = (&'static str, fn(&[u8]));
    let harnesses: [Harness; 4] = [
        ("index", |d| _ = framegate::fuzzing::index(d)),
        ("token", |d| _ = framegate::fuzzing::token(d)),
        ("query", |d| _ = framegate::fuzzing::query(d)),
        ("frame", |d| _ = framegate::fuzzing::frame(d)),
    ];
    let mut rng = StdRng::seed_from_u64(1);
    for (target, harness) in harnesses {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
        let seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir).unwrap().map(|e| std::fs::read(e.unwrap().path()).unwrap()).collect();
        assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
        for seed in &seeds {
            harness(seed);
            for _ in 0..1000 {
                let mut input = seed.clone();
                for _ in 0..rng.random_range(1..=8) {
                    match rng.random_range(0..4) {
                        0 if !input.is_empty() => {
                            let at = rng.random_range(0..input.len());
                            input[at] ^= 1 << rng.random_range(0..8);
                        }
                        1 if !input.is_empty() => {
                            let at = rng.random_range(0..input.len());
                            input[at] = *[0x00, 0xff, 0x7f, 0x80].get(rng.random_range(0..4)).unwrap_or(&0);
                        }
                        2 => input.truncate(rng.random_range(0..=input.len())),
                        _ => {
                            let at = rng.random_range(0..=input.len());
                            let len = rng.random_range(1..=16);
                            input.splice(at..at, (0..len).map(|_| rng.random::<u8>()));
                        }
                    }
                }
                harness(&input);
            }
        }
    }
}
