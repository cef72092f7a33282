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

crate::on_both_stores!(
    frame_n_reads_only_the_header_prefix_and_frame_n,
    concurrent_identical_requests_render_once,
    info_and_frame_count_of_a_multiframe_file,
);

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
    let requests: Vec<_> = (0..16).map(|_| tokio::spawn({
        let url = url.clone();
        async move { get(&url).await }
    })).collect();
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
