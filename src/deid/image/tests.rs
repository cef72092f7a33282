use super::*;

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn segment(marker: u8, body: &[u8]) -> Vec<u8> {
    let mut s = vec![0xFF, marker];
    s.extend_from_slice(&u16::try_from(body.len() + 2).unwrap().to_be_bytes());
    s.extend_from_slice(body);
    s
}

/// A 16×16 colour gradient, progressive so that it has several scans.
fn plain_jpeg() -> Vec<u8> {
    let pixels: Vec<u8> = (0..16 * 16).flat_map(|i| [(i * 3) as u8, (i * 7) as u8, (255 - i) as u8]).collect();
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
    encoder.set_progressive(true);
    encoder.encode(&pixels, 16, 16, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

/// `plain` with a comment, an EXIF and an XMP block after SOI, a comment and an APP1 between two
/// scans, and bytes after EOI.
fn decorated_jpeg(plain: &[u8]) -> Vec<u8> {
    let mut out = plain[..2].to_vec();
    out.extend(segment(0xFE, b"PLANTED-COM Doe^Jane"));
    out.extend(segment(0xE1, b"Exif\0\0MM\0\x2a\0\0\0\x08PLANTED-EXIF"));
    out.extend(segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>PLANTED-XMP</x:xmpmeta>"));
    // The second SOS: entropy-coded data stuffs every 0xFF, so FF DA after the first scan
    // starts is a marker.
    let first_scan = crate::dicom::jpeg_header_end(plain).unwrap();
    let second = first_scan + plain[first_scan..].windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    out.extend_from_slice(&plain[2..second]);
    out.extend(segment(0xFE, b"PLANTED-BETWEEN-SCANS"));
    out.extend(segment(0xE1, b"Exif\0\0PLANTED-LATE-EXIF"));
    out.extend_from_slice(&plain[second..]);
    out.extend_from_slice(b"PLANTED-TRAILER");
    out
}

fn decode_jpeg(bytes: &[u8]) -> Vec<u8> {
    jpeg_decoder::Decoder::new(bytes).decode().unwrap()
}

#[test]
fn jpeg_metadata_goes_and_the_compressed_pixels_stay() {
    let plain = plain_jpeg();
    let decorated = decorated_jpeg(&plain);
    let stripped = strip(&decorated).unwrap();
    for planted in ["PLANTED", "Doe^Jane", "Exif", "xmpmeta"] {
        assert!(!contains(&stripped, planted), "{planted} survived");
    }
    // Everything that was added is gone, and nothing else: the encoder's own bytes, JFIF and
    // every scan, come back as they were.
    assert_eq!(stripped, plain);
    assert_eq!(decode_jpeg(&stripped), decode_jpeg(&decorated));
    // Already clean: unchanged.
    assert_eq!(strip(&plain).unwrap(), plain);
}

#[test]
fn jpeg_decoding_segments_are_kept() {
    let plain = plain_jpeg();
    let mut with_icc = plain[..2].to_vec();
    with_icc.extend(segment(0xE2, b"ICC_PROFILE\0\x01\x01profile"));
    with_icc.extend(segment(0xEE, b"Adobe\0\x64\0\0\0\0\x01"));
    with_icc.extend_from_slice(&plain[2..]);
    assert_eq!(strip(&with_icc).unwrap(), with_icc);
}

#[test]
fn malformed_jpegs_are_refused_without_panicking() {
    let plain = plain_jpeg();
    // Cut anywhere before EOI: refused, never a partial image.
    for cut in (0..plain.len() - 1).step_by(7) {
        assert!(strip(&plain[..cut]).is_err(), "cut at {cut}");
    }
    // A segment whose length runs past the end; a scan with no frame header.
    assert!(matches!(strip(&[0xFF, 0xD8, 0xFF, 0xE1, 0x40, 0x00, b'E']), Err(ImageError::Jpeg)));
    assert!(matches!(strip(&[0xFF, 0xD8, 0xFF, 0xDA, 0, 2, 0xFF, 0xD9]), Err(ImageError::Jpeg)));
    // Garbage where a marker must be.
    let mut garbage = plain[..2].to_vec();
    garbage.extend_from_slice(b"xx");
    garbage.extend_from_slice(&plain[2..]);
    assert!(strip(&garbage).is_err());
    assert!(matches!(strip(b"GIF89a"), Err(ImageError::Unknown)));
    assert!(matches!(strip(b""), Err(ImageError::Unknown)));
}

/// An 8×8 RGBA image with sRGB, gamma and pixel size, and text, EXIF, time and private chunks
/// holding planted values, before and after the image data.
fn decorated_png() -> Vec<u8> {
    let pixels: Vec<u8> = (0..8 * 8 * 4).map(|i| (i * 5) as u8).collect();
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, 8, 8);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_source_srgb(png::SrgbRenderingIntent::Perceptual);
    encoder.set_pixel_dims(Some(png::PixelDimensions { xppu: 2835, yppu: 2835, unit: png::Unit::Meter }));
    encoder.add_text_chunk("Author".into(), "PLANTED-TEXT Doe^Jane".into()).unwrap();
    encoder.add_ztxt_chunk("Comment".into(), "PLANTED-ZTXT".into()).unwrap();
    encoder.add_itxt_chunk("Description".into(), "PLANTED-ITXT".into()).unwrap();
    let mut writer = encoder.write_header().unwrap();
    writer.write_chunk(png::chunk::ChunkType(*b"eXIf"), b"MM\0\x2a\0\0\0\x08PLANTED-EXIF").unwrap();
    writer.write_chunk(png::chunk::ChunkType(*b"prVt"), b"PLANTED-PRIVATE").unwrap();
    writer.write_chunk(png::chunk::tIME, &[0x07, 0xEA, 11, 26, 2, 15, 0]).unwrap();
    writer.write_image_data(&pixels).unwrap();
    writer.write_chunk(png::chunk::tEXt, b"Comment\0PLANTED-LATE").unwrap();
    writer.finish().unwrap();
    out
}

fn decode_png(bytes: &[u8]) -> Vec<u8> {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(info.buffer_size());
    pixels
}

fn chunk_types(png: &[u8]) -> Vec<String> {
    let mut at = 8;
    let mut out = Vec::new();
    while at + 8 <= png.len() {
        let length = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        out.push(String::from_utf8_lossy(&png[at + 4..at + 8]).into_owned());
        at += 12 + length;
    }
    out
}

#[test]
fn png_metadata_goes_and_the_pixels_stay() {
    let decorated = decorated_png();
    assert!(contains(&decorated, "PLANTED-EXIF") && contains(&decorated, "PLANTED-LATE"), "the fixture plants its values");
    let stripped = strip(&decorated).unwrap();
    for planted in ["PLANTED", "Doe^Jane", "Author", "Comment", "Description"] {
        assert!(!contains(&stripped, planted), "{planted} survived");
    }
    let kinds = chunk_types(&stripped);
    assert_eq!(kinds.first().map(String::as_str), Some("IHDR"));
    assert_eq!(kinds.last().map(String::as_str), Some("IEND"));
    for kept in ["sRGB", "pHYs", "IDAT"] {
        assert!(kinds.iter().any(|k| k == kept), "{kept} dropped: {kinds:?}");
    }
    for gone in ["tEXt", "zTXt", "iTXt", "eXIf", "tIME", "prVt"] {
        assert!(!kinds.iter().any(|k| k == gone), "{gone} kept");
    }
    assert_eq!(decode_png(&stripped), decode_png(&decorated));
    assert_eq!(strip(&stripped).unwrap(), stripped);
}

#[test]
fn malformed_pngs_are_refused_without_panicking() {
    let good = decorated_png();
    // A flipped bit in the image data fails the CRC; in a text chunk too, though it would go.
    let idat = good.windows(4).position(|w| w == b"IDAT").unwrap();
    let mut bad = good.clone();
    bad[idat + 6] ^= 1;
    assert!(matches!(strip(&bad), Err(ImageError::PngCrc { ref chunk, .. }) if chunk == "IDAT"));
    let text = good.windows(4).position(|w| w == b"tEXt").unwrap();
    let mut bad = good.clone();
    bad[text + 6] ^= 1;
    assert!(matches!(strip(&bad), Err(ImageError::PngCrc { .. })));
    // Cut anywhere before IEND's end.
    for cut in 8..good.len() {
        assert!(strip(&good[..cut]).is_err(), "cut at {cut}");
    }
    // A length past the end, and one past PNG's limit.
    let mut long = PNG_SIGNATURE.to_vec();
    long.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xF0]);
    long.extend_from_slice(b"IHDR");
    assert!(matches!(strip(&long), Err(ImageError::PngTruncated { at: 8 })));
    // A chunk before IHDR; an unknown critical chunk.
    let ihdr_end = 8 + 12 + 13;
    let mut order = PNG_SIGNATURE.to_vec();
    order.extend_from_slice(&good[ihdr_end..]);
    assert!(matches!(strip(&order), Err(ImageError::PngLayout(_))));
    let mut critical = good[..ihdr_end].to_vec();
    critical.extend(png_chunk(b"ABCD", b"?"));
    critical.extend_from_slice(&good[ihdr_end..]);
    assert!(matches!(strip(&critical), Err(ImageError::PngUnknownCritical(ref c)) if c == "ABCD"));
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
    out
}

#[test]
fn mutated_and_cut_images_never_panic() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    for original in [decorated_jpeg(&plain_jpeg()), decorated_png()] {
        for _ in 0..2000 {
            let mut bytes = original.clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..bytes.len());
                bytes[at] = rng.random();
            }
            bytes.truncate(rng.random_range(bytes.len() / 2..=bytes.len()));
            // Most are refused (a PNG fails its CRC); a JPEG changed inside its scan data
            // passes, and only ever loses bytes.
            if let Ok(out) = strip(&bytes) {
                assert!(out.len() <= bytes.len());
            }
        }
    }
}
