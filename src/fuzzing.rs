//! The fuzz harnesses, in the library so that `fuzz/` targets and the regression tests over
//! the crashes they found run the very same code. Each takes arbitrary bytes and must return
//! without panicking; what it returns is only for the tests.

use dicom_dictionary_std::uids;
use std::ops::Range;
use std::sync::LazyLock;

use bytes::Bytes;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use dicom_core::VR;

use crate::dicom::index::Swap;
use crate::dicom::{Image, Index, Layout, Limits, decode_frame};
use crate::render::{Overlay, OverlayBits, OverlayKind, Presentation, SampleFormat};
use crate::key::ObjectKey;
use crate::render::{RenderParams, VoiFunction, Window, render};
use crate::store::{ByteStream, Listed, ObjectMeta, Store, StoreError};
use crate::token::Keyring;

/// One object held in memory.
struct Memory(Bytes);

#[async_trait::async_trait]
impl Store for Memory {
    async fn head(&self, _: &ObjectKey) -> Result<ObjectMeta, StoreError> {
        Ok(ObjectMeta { size: self.0.len() as u64, etag: "m".into() })
    }
    async fn read(&self, _: &ObjectKey, _: &ObjectMeta, r: Range<u64>) -> Result<Bytes, StoreError> {
        let range = usize::try_from(r.start).ok().zip(usize::try_from(r.end).ok()).ok_or(StoreError::NotFound)?;
        self.0.get(range.0..range.1).map(Bytes::copy_from_slice).ok_or(StoreError::NotFound)
    }
    async fn stream(&self, _: &ObjectKey, _: &ObjectMeta, _: Range<u64>) -> Result<ByteStream, StoreError> {
        Err(StoreError::NotFound)
    }
    async fn list(&self, _: &ObjectKey) -> Result<Vec<Listed>, StoreError> {
        Ok(Vec::new())
    }
}

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime builds"));
/// Deflated inputs are inflated on a pool, as the server does.
static POOL: LazyLock<crate::pool::RenderPool> = LazyLock::new(|| crate::pool::RenderPool::new(1, 1, 64 << 20));
static KEYS: LazyLock<Keyring> = LazyLock::new(|| Keyring::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").expect("a valid literal key"));

/// The index builder over `data` as a whole file, with the growing reads a request makes.
pub fn index(data: &[u8]) -> Option<u32> {
    let store = Memory(Bytes::copy_from_slice(data));
    let meta = ObjectMeta { size: data.len() as u64, etag: "m".into() };
    let key = ObjectKey::parse_plain("f.dcm").ok()?;
    let limits = Limits { max_header_bytes: 1 << 20, max_frame_pixels: 1 << 22, max_frame_bytes: 1 << 22, max_inflated_bytes: 1 << 22 };
    let index = RUNTIME.block_on(Index::load(&store, &key, &meta, &limits, &POOL)).ok()?;
    for n in 0..index.frame_count().min(4) {
        let _ = index.frame_range(n);
    }
    let _ = crate::dicom::describe::inspect(&index);
    Some(index.frame_count())
}

/// Path parsing and token verification; a path that verifies must carry the token the key
/// signs for its scope.
pub fn token(data: &[u8]) -> bool {
    let Ok(path) = std::str::from_utf8(data) else { return false };
    let Ok((key, grant)) = crate::http::authorize(&KEYS, path, 1_800_000_000) else { return false };
    let scope = key.prefix(grant.depth).and_then(|s| ObjectKey::parse_plain(&s).ok());
    assert!(scope.is_some_and(|s| path.contains(&KEYS.sign(&s, grant.expires))), "accepted a token not signed for its scope");
    true
}

/// The frame query parser.
pub fn query(data: &[u8]) -> bool {
    let Ok(query) = std::str::from_utf8(data) else { return false };
    let Ok(q) = crate::http::query::FrameQuery::parse(Some(query)) else { return false };
    assert!((1..=100).contains(&q.jpeg_quality()));
    true
}

const SYNTAXES: &[&str] = &[
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    // Explicit VR Big Endian, retired (dicom-rs marks its constant deprecated).
    "1.2.840.10008.1.2.2",
    uids::JPEG_BASELINE8_BIT,
    uids::JPEG_LOSSLESS_SV1,
    uids::JPEG2000_LOSSLESS,
    uids::RLE_LOSSLESS,
    uids::JPEG_EXTENDED12_BIT,
    uids::HTJ2K_LOSSLESS,
    uids::JPEGLS_LOSSLESS,
];
const PHOTOMETRIC: &[&str] = &["MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR"];

/// RLE frames through the decoder: `frame` with the transfer syntax fixed to RLE Lossless,
/// for the regression tests of the crashes found in dicom-rs's RLE decoder.
pub fn rle_frame(data: &[u8]) -> Result<usize, String> {
    frame_with(RLE_SYNTAX, data)
}

const RLE_SYNTAX: &str = uids::RLE_LOSSLESS;

/// Decode, window and encode one frame: the first 8 bytes choose the transfer syntax and the
/// image description, the rest is the frame (one fragment when compressed). Returns the JPEG's
/// length, or why there is none.
pub fn frame(data: &[u8]) -> Result<usize, String> {
    let ts = SYNTAXES[*data.first().ok_or("empty input")? as usize % SYNTAXES.len()];
    frame_with(ts, data)
}

fn frame_with(ts: &str, data: &[u8]) -> Result<usize, String> {
    let [_, rows, cols, bits, stored, flags, center, width, rest @ ..] = data else { return Err("short input".into()) };
    let ts = TransferSyntaxRegistry.get(ts).ok_or("unknown transfer syntax")?;
    let photometric = PHOTOMETRIC[(*flags >> 4) as usize % PHOTOMETRIC.len()];
    let bits_allocated = [1u16, 8, 16, 32][*bits as usize % 4];
    let bits_stored = (u16::from(*stored) % bits_allocated).max(1);
    let color = matches!(photometric, "RGB" | "YBR_FULL" | "YBR_FULL_422");
    let image = Image {
        format: SampleFormat {
            rows: u16::from(*rows % 64).max(1),
            columns: u16::from(*cols % 64).max(1),
            samples_per_pixel: if color { 3 } else { 1 },
            bits_allocated,
            bits_stored,
            high_bit: bits_stored - 1,
            signed: flags & 1 == 1,
            photometric: photometric.into(),
            planar_configuration: u16::from(flags >> 1 & 1),
        },
        frames: 1,
    };
    let encapsulated = ts.is_encapsulated_pixel_data();
    let bytes: Vec<u8> = if encapsulated {
        let mut item = vec![0xFE, 0xFF, 0x00, 0xE0];
        item.extend_from_slice(&u32::try_from(rest.len()).map_err(|e| e.to_string())?.to_le_bytes());
        item.extend_from_slice(rest);
        item
    } else {
        rest.to_vec()
    };
    let layout = if encapsulated {
        let whole = 0..bytes.len() as u64;
        Layout::Encapsulated { frames: vec![whole] }
    } else {
        Layout::Native { offset: 0, frame_bytes: bytes.len() as u64, swap: Swap::of(ts.uid().ends_with(".2.2"), VR::OW, image.bits_allocated) }
    };
    let presentation =
        Presentation { rescale_slope: 1.0, rescale_intercept: f64::from(*center) - 128.0, overlays: fuzzed_overlays(rows, cols, center, width, rest), ..Presentation::default() };
    let index = Index::from_parts(ts, image, presentation, layout, bytes.len() as u64);
    let window = Window::new(f64::from(*center) * 16.0 - 2048.0, f64::from(*width) * 8.0 + 1.0, VoiFunction::Linear);
    let pixels = decode_frame(&index, 0, &bytes::Bytes::copy_from_slice(&bytes)).map_err(|e| e.to_string())?;
    let params = RenderParams { window, viewport: (flags & 8 == 8).then_some((17, 9)), overlays: flags & 4 == 4 };
    let picture = render(&pixels, index.presentation(), &params).map_err(|e| e.to_string())?;
    crate::encode::jpeg(&picture, 80).map(|j| j.len()).map_err(|e| e.to_string())
}

/// Overlay planes whose size, origin and bits come from the input, whatever the image: drawing
/// must stay within the picture however they disagree with it.
fn fuzzed_overlays(rows: &u8, cols: &u8, center: &u8, width: &u8, rest: &[u8]) -> Vec<Overlay> {
    let plane = |bits| Overlay {
        group: 0x6000,
        rows: u16::from(*cols % 80),
        columns: u16::from(*rows % 80),
        kind: OverlayKind::Graphics,
        origin: [i16::from(*center as i8), i16::from(*width as i8)],
        frames: 1,
        first_frame: 0,
        per_frame: false,
        bits,
    };
    vec![plane(OverlayBits::Separate(rest.to_vec())), plane(OverlayBits::Embedded(u16::from(*width % 16)))]
}
