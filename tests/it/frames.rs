//! The frame path: only the header prefix and the frame are read, and frames are the right ones.

use super::support::*;
use framegate::sample;

const FRAMES: u32 = 24;
const SIZE: u16 = 128;

async fn cine_server(backend: Backend) -> (Server, u64) {
    let server = Server::start_on(backend, Default::default()).await;
    let bytes = sample::to_bytes(sample::cine(FRAMES, SIZE)).unwrap();
    let size = bytes.len() as u64;
    server.put("xa/cine.dcm", bytes).await;
    (server, size)
}

crate::on_both_stores!(frame_n_reads_only_the_header_prefix_and_frame_n, concurrent_identical_requests_render_once, info_and_frame_count_of_a_multiframe_file,);

fn expected_cine(frame: u32) -> Vec<u8> {
    // The file's window is 2048/4096 linear.
    let w = framegate::render::Window::new(2048.0, 4096.0, framegate::render::VoiFunction::Linear).unwrap();
    let s = u32::from(SIZE);
    (0..s).flat_map(|row| (0..s).map(move |col| w.level(f64::from(sample::cine_value(frame, col, row, s))))).collect()
}

async fn frame_n_reads_only_the_header_prefix_and_frame_n(backend: Backend) {
    let (server, size) = cine_server(backend).await;
    let frame_bytes = u64::from(SIZE) * u64::from(SIZE) * 2;
    assert!(size > 64 * 1024 + frame_bytes, "the file must be larger than what one frame needs");
    let r = get(&server.url("xa", "xa/cine.dcm", "/-/frames/17.jpg?quality=100")).await;
    assert_eq!(r.status, 200);
    let reads = server.store.reads_of("xa/cine.dcm");
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert_eq!(reads[0], 0..64 * 1024, "the header prefix");
    let pixel_offset = size - frame_bytes * u64::from(FRAMES);
    assert_eq!(reads[1], pixel_offset + 16 * frame_bytes..pixel_offset + 17 * frame_bytes, "frame 17");
    let total: u64 = reads.iter().map(|r| r.end - r.start).sum();
    assert_eq!(total, 64 * 1024 + frame_bytes);
    // And it is frame 17: the corner block holds 100 × 17.
    let (_, _, pixels) = r.jpeg();
    assert!(mean_abs_diff(&pixels, &expected_cine(16)) < 1.5);

    // A second frame costs one more read; the index is cached.
    server.store.clear();
    let r = get(&server.url("xa", "xa/cine.dcm", "/-/frames/3.jpg?quality=100")).await;
    assert!(mean_abs_diff(&r.jpeg().2, &expected_cine(2)) < 1.5);
    assert_eq!(server.store.reads_of("xa/cine.dcm"), vec![pixel_offset + 2 * frame_bytes..pixel_offset + 3 * frame_bytes]);
    // And the same frame again is served from the cache without touching the store.
    server.store.clear();
    assert_eq!(get(&server.url("xa", "xa/cine.dcm", "/-/frames/3.jpg?quality=100")).await.status, 200);
    assert!(server.store.reads_of("xa/cine.dcm").is_empty());
    server.stop().await;
}

async fn concurrent_identical_requests_render_once(backend: Backend) {
    let (server, _) = cine_server(backend).await;
    let url = server.url("xa", "xa/cine.dcm", "/-/frames/5.jpg");
    let requests: Vec<_> = (0..16)
        .map(|_| {
            tokio::spawn({
                let url = url.clone();
                async move { get(&url).await }
            })
        })
        .collect();
    let mut bodies = Vec::new();
    for r in requests {
        let r = r.await.unwrap();
        assert_eq!(r.status, 200);
        bodies.push(r.body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    let reads = server.store.reads_of("xa/cine.dcm");
    assert_eq!(reads.len(), 2, "one header read and one frame read for 16 requests: {reads:?}");
    server.stop().await;
}

async fn info_and_frame_count_of_a_multiframe_file(backend: Backend) {
    let (server, _) = cine_server(backend).await;
    let info = get(&server.url("xa", "xa/cine.dcm", "/-/info.json")).await.json();
    assert_eq!(info["frames"], FRAMES);
    assert_eq!(info["frame_time"], 66.7);
    assert_eq!(info["modality"], "XA");
    let last = get(&server.url("xa", "xa/cine.dcm", &format!("/-/frames/{FRAMES}.jpg?quality=100"))).await;
    assert!(mean_abs_diff(&last.jpeg().2, &expected_cine(FRAMES - 1)) < 1.5);
    assert_eq!(get(&server.url("xa", "xa/cine.dcm", &format!("/-/frames/{}.jpg", FRAMES + 1))).await.status, 404);
    server.stop().await;
}

#[tokio::test]
async fn jpeg_stack_images_are_served_as_they_are() {
    let server = Server::start().await;
    sample::write_stack_image(3, 64, &server.path("photos/s/img3.jpg")).unwrap();
    let r = get(&server.url("photos/s", "photos/s/img3.jpg", "")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    let (w, h, pixels) = r.jpeg();
    assert_eq!((w, h), (64, 64));
    let expected: Vec<u8> = (0..64).flat_map(|row| (0..64).map(move |col| sample::stack_value(3, col, row, 64))).collect();
    assert!(mean_abs_diff(&pixels, &expected) < 2.0);
    // Rendering a JPEG file as a DICOM frame is a clear 422.
    let not_dicom = get(&server.url("photos/s", "photos/s/img3.jpg", "/-/frames/1.jpg")).await;
    assert_eq!((not_dicom.status, not_dicom.error()), (422, "not a DICOM file".to_owned()));
    server.stop().await;
}

/// A multi-frame JPEG baseline object with an empty offset table, as gdcm writes them: frame
/// `k` (from 1) is a flat grey of level `(k - 1) mod 256`.
fn jpeg_cine(frames: u32, side: u16) -> Vec<u8> {
    jpeg_cine_with(frames, side, |jpeg| jpeg)
}

/// `jpeg_cine` with each frame's stream passed through `decorate` first.
fn jpeg_cine_with(frames: u32, side: u16, decorate: fn(Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    use dicom_core::value::PixelFragmentSequence;
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let fragments: Vec<Vec<u8>> = (0..frames)
        .map(|k| {
            let mut jpeg = Vec::new();
            let pixels = vec![(k % 256) as u8; usize::from(side) * usize::from(side)];
            jpeg_encoder::Encoder::new(&mut jpeg, 95).encode(&pixels, side, side, jpeg_encoder::ColorType::Luma).unwrap();
            let mut jpeg = decorate(jpeg);
            if jpeg.len() % 2 == 1 {
                jpeg.push(0);
            }
            jpeg
        })
        .collect();
    let us = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    let obj = dicom_object::InMemDicomObject::from_element_iter([
        DataElement::new(tags::SOP_CLASS_UID, VR::UI, PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.7.2")),
        DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from("2.25.42")),
        us(tags::SAMPLES_PER_PIXEL, 1),
        DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from("MONOCHROME2")),
        DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from(frames.to_string())),
        us(tags::ROWS, side),
        us(tags::COLUMNS, side),
        us(tags::BITS_ALLOCATED, 8),
        us(tags::BITS_STORED, 8),
        us(tags::HIGH_BIT, 7),
        us(tags::PIXEL_REPRESENTATION, 0),
        DataElement::new(tags::WINDOW_CENTER, VR::DS, PrimitiveValue::from("128")),
        DataElement::new(tags::WINDOW_WIDTH, VR::DS, PrimitiveValue::from("256")),
        DataElement::new(tags::PIXEL_DATA, VR::OB, PixelFragmentSequence::new(Vec::<u32>::new(), fragments)),
    ]);
    framegate::sample::to_bytes_in(obj, "1.2.840.10008.1.2.4.50").unwrap()
}

#[tokio::test]
async fn an_unchanged_8_bit_baseline_frame_is_sent_as_stored() {
    let server = Server::start().await;
    let file = jpeg_cine(3, 64);
    server.put("xa/jpeg.dcm", file.clone()).await;
    let stored = get(&server.url("xa", "xa/jpeg.dcm", "/-/frames/2.jpg")).await;
    assert_eq!(stored.status, 200);
    assert_eq!(stored.header("x-framegate-transcode"), Some("passthrough"));
    assert!(file.windows(stored.body.len()).any(|w| w == &stored.body[..]), "the body is not the stored JPEG");
    // Frame 2 is a flat grey of 1; the stored JPEG decodes to it.
    assert!(stored.jpeg().2.iter().all(|&v| v <= 2));

    // Any change to the picture goes through the renderer.
    for query in ["?quality=80", "?window=100,50", "?viewport=32,32"] {
        let r = get(&server.url("xa", "xa/jpeg.dcm", &format!("/-/frames/2.jpg{query}"))).await;
        assert_eq!(r.status, 200, "{query}");
        assert_eq!(r.header("x-framegate-transcode"), Some("rendered"), "{query}");
        assert_ne!(r.body, stored.body, "{query}");
    }
    // A 12-bit CT is always rendered.
    server.put_ct("ct/a.dcm", 0, 1, 32).await;
    let r = get(&server.url("ct", "ct/a.dcm", "/-/frames/1.jpg")).await;
    assert_eq!(r.header("x-framegate-transcode"), Some("rendered"));
    server.stop().await;
}

#[tokio::test]
async fn png_frames_hold_the_rendered_pixels_exactly() {
    let server = Server::start().await;
    server.put_ct("ct/a.dcm", 0, 1, 64).await;
    let r = get(&server.url("ct", "ct/a.dcm", "/-/frames/1.png?window=40,400")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/png"));
    let mut reader = png::Decoder::new(std::io::Cursor::new(&r.body[..])).read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height, info.color_type, info.bit_depth), (64, 64, png::ColorType::Grayscale, png::BitDepth::Eight));
    for row in 0..64u16 {
        for col in 0..64u16 {
            assert_eq!(pixels[usize::from(row) * 64 + usize::from(col)], ct_expected(0, 1, 64, col, row, 40.0, 400.0), "({col}, {row})");
        }
    }
    // PNG has no quality; a named one is the same picture.
    let again = get(&server.url("ct", "ct/a.dcm", "/-/frames/1.png?window=40,400&quality=10")).await;
    assert_eq!(again.body, r.body);
    assert_eq!(get(&server.url("ct", "ct/a.dcm", "/-/frames/1.gif")).await.status, 400);
    server.stop().await;
}

crate::on_both_stores!(an_empty_offset_table_is_walked_in_windows);

async fn an_empty_offset_table_is_walked_in_windows(backend: Backend) {
    let server = Server::start_on(backend, Default::default()).await;
    let bytes = jpeg_cine(600, 64);
    let size = bytes.len() as u64;
    assert!(size > 3 * 64 * 1024, "{size}");
    server.put("xa/jpeg.dcm", bytes).await;
    let r = get(&server.url("xa", "xa/jpeg.dcm", "/-/frames/200.jpg")).await;
    let (_, _, pixels) = r.jpeg();
    assert!(pixels.iter().all(|&p| p.abs_diff(199) <= 1), "frame 200 is grey 199");
    let reads = server.store.reads_of("xa/jpeg.dcm");
    // The prefix, one read per 64 KiB window of item headers, and the frame: not 600 round trips.
    assert!(reads.len() <= 2 + size.div_ceil(64 * 1024) as usize, "{} reads: {reads:?}", reads.len());
    let frame = reads.last().unwrap();
    assert!(frame.end - frame.start < 1024, "only the frame's own item is read last: {frame:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_render_queue_answers_503_with_retry_after_and_recovers() {
    // One render at a time and no queue: concurrent cold frames beyond the first are shed.
    let settings = framegate::Settings { render_threads: 1, render_queue: 0, ..Default::default() };
    let server = Server::start_on(Backend::Fs, settings).await;
    server.put("xa/big.dcm", sample::to_bytes(sample::cine(12, 1024)).unwrap()).await;
    let requests: Vec<_> = (1..=12)
        .map(|n| {
            tokio::spawn({
                let url = server.url("xa", "xa/big.dcm", &format!("/-/frames/{n}.jpg"));
                async move { get(&url).await }
            })
        })
        .collect();
    let mut shed = 0;
    for r in requests {
        let r = r.await.unwrap();
        match r.status {
            200 => {}
            503 => {
                shed += 1;
                assert_eq!(r.header("retry-after"), Some("1"));
                assert_eq!(r.error(), "server is busy, retry shortly");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(shed > 0, "twelve concurrent renders through one slot shed some");
    // Load gone, the shed frames render.
    for n in 1..=12 {
        assert_eq!(get(&server.url("xa", "xa/big.dcm", &format!("/-/frames/{n}.jpg"))).await.status, 200);
    }
    server.stop().await;
}

/// A JPEG with what modalities and cameras write into it: a comment and an EXIF block naming
/// the patient, after its JFIF header.
fn with_planted_metadata(jpeg: Vec<u8>) -> Vec<u8> {
    let segment = |marker: u8, body: &[u8]| {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&u16::try_from(body.len() + 2).unwrap().to_be_bytes());
        s.extend_from_slice(body);
        s
    };
    let mut out = jpeg[..2].to_vec();
    out.extend(segment(0xFE, b"PLANTEDCOMMENT Doe^Jane"));
    out.extend(segment(0xE1, b"Exif\0\0PLANTEDEXIF 1961-02-03 GPS 51.5N"));
    out.extend_from_slice(&jpeg[2..]);
    out
}

const PLANTED_IN_JPEG: [&str; 2] = ["PLANTEDCOMMENT", "PLANTEDEXIF"];

fn holds_planted_jpeg_metadata(body: &[u8]) -> bool {
    PLANTED_IN_JPEG.iter().any(|p| body.windows(p.len()).any(|w| w == p.as_bytes()))
}

/// Issue 17.3: comments and EXIF inside stored JPEGs never leave framegate: not in a passed
/// through frame, not in de-identified DICOM (whose item lengths still hold, so it parses and
/// renders the same), not in a JPEG stack image.
#[tokio::test]
async fn metadata_inside_stored_jpegs_never_leaves() {
    let server = Server::start().await;
    let file = jpeg_cine_with(3, 64, with_planted_metadata);
    assert!(holds_planted_jpeg_metadata(&file));
    server.put("xa/jpeg.dcm", file.clone()).await;
    let frame = get(&server.url("xa", "xa/jpeg.dcm", "/-/frames/2.jpg")).await;
    assert_eq!((frame.status, frame.header("x-framegate-transcode")), (200, Some("passthrough")));
    assert!(!holds_planted_jpeg_metadata(&frame.body));
    assert!(frame.jpeg().2.iter().all(|&v| v <= 2), "the blanked stream still decodes");

    let raw = get(&server.url("xa", "xa/jpeg.dcm", "")).await;
    assert_eq!(raw.status, 200);
    assert!(!holds_planted_jpeg_metadata(&raw.body));
    // The de-identified object is whole: served again, its frames render as the original's.
    server.put("xa/deid.dcm", raw.body.to_vec()).await;
    for n in 1..=3 {
        let path = format!("/-/frames/{n}.png");
        assert_eq!(get(&server.url("xa", "xa/deid.dcm", &path)).await.body, get(&server.url("xa", "xa/jpeg.dcm", &path)).await.body, "frame {n}");
    }
    // Ranges cut through frames and still match the whole.
    for (start, end) in [(1000, 1100), (raw.body.len() - 700, raw.body.len() - 1)] {
        let part = request("GET", &server.url("xa", "xa/jpeg.dcm", ""), &[("range", &format!("bytes={start}-{end}"))]).await;
        assert_eq!((part.status, &part.body[..]), (206, &raw.body[start..=end]));
    }

    let mut pixels = Vec::new();
    jpeg_encoder::Encoder::new(&mut pixels, 90).encode(&[7u8; 64], 8, 8, jpeg_encoder::ColorType::Luma).unwrap();
    server.put("photos/a.jpg", with_planted_metadata(pixels)).await;
    let image = get(&server.url("photos", "photos/a.jpg", "")).await;
    assert_eq!(image.status, 200);
    assert!(!holds_planted_jpeg_metadata(&image.body));
    assert!(image.jpeg().2.iter().all(|&v| v.abs_diff(7) <= 1));

    // A PNG's text chunks (tEXt, zTXt, iTXt) go; its pixels stay.
    let png = |text: Option<&str>| {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, 4, 4);
        encoder.set_color(png::ColorType::Grayscale);
        if let Some(text) = text {
            encoder.add_text_chunk("Author".into(), format!("{text}-tEXt")).unwrap();
            encoder.add_ztxt_chunk("Comment".into(), format!("{text}-zTXt")).unwrap();
            encoder.add_itxt_chunk("Title".into(), format!("{text}-iTXt")).unwrap();
        }
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&[9u8; 16]).unwrap();
        writer.finish().unwrap();
        out
    };
    let planted = png(Some("PLANTEDPNGNAME"));
    assert!(planted.windows(14).any(|w| w == b"PLANTEDPNGNAME"));
    server.put("photos/b.png", planted).await;
    let served = get(&server.url("photos", "photos/b.png", "")).await;
    assert_eq!((served.status, served.header("content-type")), (200, Some("image/png")));
    assert!(!served.body.windows(7).any(|w| w == b"PLANTED"), "no text chunk leaves");
    assert_eq!(decode_png(&served.body), decode_png(&png(None)));
    let part = request("GET", &server.url("photos", "photos/b.png", ""), &[("range", "bytes=0-7")]).await;
    assert_eq!((part.status, &part.body[..]), (206, &served.body[..8]));
    server.stop().await;
}
