//! libjpeg-turbo (the `turbo` feature): JPEG encoding, and decoding of every JPEG process
//! DICOM stores (baseline and extended 8/12-bit, lossless up to 16-bit).
//!
//! Encoding goes through the turbojpeg crate's safe API. Decoding 12- and 16-bit samples needs
//! libjpeg-turbo 3's `tj3Decompress12/16`, which the crate does not wrap, so they are called here
//! through its raw bindings, behind one handle type that owns the instance.

use std::cell::RefCell;
use std::ffi::CStr;

use turbojpeg::raw;

use crate::render::Picture;

/// Why libjpeg-turbo refused a picture or a stream.
#[derive(Debug, thiserror::Error)]
#[error("libjpeg-turbo: {0}")]
pub struct TurboError(String);

thread_local! {
    // A compressor holds its Huffman and quantisation state; one per render thread is reused.
    static COMPRESSOR: RefCell<Option<turbojpeg::Compressor>> = const { RefCell::new(None) };
}

/// Encodes `picture` as a baseline JPEG at `quality`, subsampling chroma as jpeg-encoder does
/// (4:2:0 below quality 90, none from 90), so that both builds serve the same picture and the
/// encoders are compared on equal terms.
pub fn encode(picture: &Picture, quality: u8) -> Result<Vec<u8>, TurboError> {
    let err = |e: turbojpeg::Error| TurboError(e.to_string());
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match slot.as_mut() {
            Some(c) => c,
            None => slot.insert(turbojpeg::Compressor::new().map_err(err)?),
        };
        compressor.set_quality(i32::from(quality.clamp(1, 100))).map_err(err)?;
        let (format, subsamp) = match picture.channels {
            1 => (turbojpeg::PixelFormat::GRAY, turbojpeg::Subsamp::Gray),
            _ if quality < 90 => (turbojpeg::PixelFormat::RGB, turbojpeg::Subsamp::Sub2x2),
            _ => (turbojpeg::PixelFormat::RGB, turbojpeg::Subsamp::None),
        };
        compressor.set_subsamp(subsamp).map_err(err)?;
        let image = turbojpeg::Image {
            pixels: picture.data.as_slice(),
            width: picture.width as usize,
            pitch: picture.width as usize * usize::from(picture.channels),
            height: picture.height as usize,
            format,
        };
        compressor.compress_to_vec(image).map_err(err)
    })
}

/// A decoded JPEG: samples in little-endian order (one byte each up to 8-bit precision, two
/// above), grey or RGB interleaved.
#[derive(Debug)]
pub struct Decoded {
    pub width: u16,
    pub height: u16,
    pub components: u16,
    pub precision: u16,
    pub data: Vec<u8>,
}

/// One libjpeg-turbo decompressor instance, destroyed on drop.
struct Handle(raw::tjhandle);

impl Handle {
    fn decompressor() -> Result<Self, TurboError> {
        // SAFETY: tj3Init has no preconditions; a null result is checked.
        let handle = unsafe { raw::tj3Init(raw::TJINIT_TJINIT_DECOMPRESS as i32) };
        if handle.is_null() { Err(TurboError("cannot create a decompressor".into())) } else { Ok(Handle(handle)) }
    }

    fn error(&self) -> TurboError {
        // SAFETY: the handle is live; the string it returns is owned by it and copied here.
        let message = unsafe { CStr::from_ptr(raw::tj3GetErrorStr(self.0)) };
        TurboError(message.to_string_lossy().into_owned())
    }

    fn get(&self, param: raw::TJPARAM) -> i32 {
        // SAFETY: the handle is live and `param` is one of the library's parameter ids.
        unsafe { raw::tj3Get(self.0, param as i32) }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from tj3Init and is destroyed once.
        unsafe { raw::tj3Destroy(self.0) }
    }
}

/// Decodes one JPEG stream of any process and precision libjpeg-turbo supports, refusing one
/// larger than `max_pixels` before anything is allocated.
pub fn decode(stream: &[u8], max_pixels: u64) -> Result<Decoded, TurboError> {
    let handle = Handle::decompressor()?;
    // size_t in the generated bindings, whatever width the platform gives it.
    let len = stream.len() as _;
    // SAFETY: the handle is live and `stream` is a valid slice for the duration of the call.
    if unsafe { raw::tj3DecompressHeader(handle.0, stream.as_ptr(), len) } != 0 {
        return Err(handle.error());
    }
    let width = handle.get(raw::TJPARAM_TJPARAM_JPEGWIDTH);
    let height = handle.get(raw::TJPARAM_TJPARAM_JPEGHEIGHT);
    let precision = handle.get(raw::TJPARAM_TJPARAM_PRECISION);
    let grey = handle.get(raw::TJPARAM_TJPARAM_COLORSPACE) == raw::TJCS_TJCS_GRAY as i32;
    let (Ok(w), Ok(h), Ok(bits)) = (u16::try_from(width), u16::try_from(height), u16::try_from(precision)) else {
        return Err(TurboError("JPEG header out of range".into()));
    };
    if w == 0 || h == 0 || u64::from(w) * u64::from(h) > max_pixels || !(2..=16).contains(&bits) {
        return Err(TurboError("JPEG size or precision out of range".into()));
    }
    let (format, components) = if grey { (raw::TJPF_TJPF_GRAY, 1u16) } else { (raw::TJPF_TJPF_RGB, 3) };
    let samples = usize::from(w) * usize::from(h) * usize::from(components);
    let pitch = i32::from(w) * i32::from(components);
    let status;
    let data = if bits <= 8 {
        let mut out = vec![0u8; samples];
        // SAFETY: `out` holds height × pitch samples of the requested width, as the call writes.
        status = unsafe { raw::tj3Decompress8(handle.0, stream.as_ptr(), len, out.as_mut_ptr(), pitch, format) };
        out
    } else {
        let mut out = vec![0u16; samples];
        // SAFETY: as above, with 16-bit samples; the 12-bit entry point (precision 9 to 12)
        // writes i16 samples in 0..4096, which share the u16 layout.
        status = unsafe {
            if bits <= 12 {
                raw::tj3Decompress12(handle.0, stream.as_ptr(), len, out.as_mut_ptr().cast(), pitch, format)
            } else {
                raw::tj3Decompress16(handle.0, stream.as_ptr(), len, out.as_mut_ptr(), pitch, format)
            }
        };
        out.iter().flat_map(|s| s.to_le_bytes()).collect()
    };
    // A warning (corrupt data past which the library went on, as IJG and dcmtk do) still
    // yields the whole picture; only fatal errors refuse the frame.
    // SAFETY: the handle is live.
    if status != 0 {
        if unsafe { raw::tj3GetErrorCode(handle.0) } != raw::TJERR_TJERR_WARNING as i32 {
            return Err(handle.error());
        }
        tracing::warn!(warning = %handle.error(), "JPEG frame decoded past corrupt data");
    }
    Ok(Decoded { width: w, height: h, components, precision: bits, data })
}
