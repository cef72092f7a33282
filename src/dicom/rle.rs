//! RLE Lossless frames (PS3.5 Annex G), decoded here rather than by dicom-rs: its decoder
//! trusts the header's segment count (fuzzing found a 16 GiB allocation), indexes past short
//! segments, and refuses 32-bit samples, which RT dose grids use.

use super::DicomError;

/// Decodes one RLE frame of `pixels` pixels, `samples` samples each of `bytes` bytes, into
/// interleaved little-endian samples (planar configuration 0).
pub fn decode(frame: &[u8], pixels: usize, samples: usize, bytes: usize) -> Result<Vec<u8>, DicomError> {
    let bad = |why| DicomError::Malformed(why);
    let header = frame.get(..64).ok_or(bad("an RLE frame is shorter than its header"))?;
    let word = |i: usize| u32::from_le_bytes([header[4 * i], header[4 * i + 1], header[4 * i + 2], header[4 * i + 3]]) as usize;
    let segments = samples * bytes;
    if word(0) != segments || segments > 15 {
        return Err(bad("an RLE frame's segment count does not match the image"));
    }
    let mut out = vec![0u8; pixels * segments];
    for s in 0..segments {
        let start = word(s + 1);
        let end = if s + 1 < segments { word(s + 2) } else { frame.len() };
        let data = frame.get(start..end).filter(|_| start >= 64).ok_or(bad("an RLE segment offset is out of range"))?;
        // Segments come most significant byte first within each sample.
        let (sample, byte) = (s / bytes, bytes - 1 - s % bytes);
        let stride = segments;
        let first = sample * bytes + byte;
        unpack(data, pixels, |i, v| out[first + i * stride] = v)?;
    }
    Ok(out)
}

/// Expands one PackBits segment into exactly `len` bytes (a trailing pad byte may be left over).
fn unpack(data: &[u8], len: usize, mut put: impl FnMut(usize, u8)) -> Result<(), DicomError> {
    let short = || DicomError::Malformed("an RLE segment is shorter than the image");
    let (mut at, mut n) = (0, 0);
    while n < len {
        let header = *data.get(at).ok_or_else(short)? as i8;
        at += 1;
        match header {
            0..=127 => {
                let count = header as usize + 1;
                let literal = data.get(at..at + count).ok_or_else(short)?;
                for &v in literal.iter().take(len - n) {
                    put(n, v);
                    n += 1;
                }
                at += count;
            }
            -127..=-1 => {
                let v = *data.get(at).ok_or_else(short)?;
                let count = (1 - i32::from(header)) as usize;
                for _ in 0..count.min(len - n) {
                    put(n, v);
                    n += 1;
                }
                at += 1;
            }
            -128 => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(segments: &[&[u8]]) -> Vec<u8> {
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(&(segments.len() as u32).to_le_bytes());
        let mut body = Vec::new();
        for (i, s) in segments.iter().enumerate() {
            header[4 + 4 * i..8 + 4 * i].copy_from_slice(&(64 + body.len() as u32).to_le_bytes());
            body.extend_from_slice(s);
        }
        [header, body].concat()
    }

    #[test]
    fn packbits_literals_and_runs() {
        // A literal of 3, a run of 4 sevens, a no-op, then a literal of 1.
        let f = frame(&[&[2, 1, 2, 3, 0xFD, 7, 0x80, 0, 9]]);
        assert_eq!(decode(&f, 8, 1, 1).unwrap(), [1, 2, 3, 7, 7, 7, 7, 9]);
    }

    #[test]
    fn multi_byte_samples_are_little_endian_and_colour_interleaved() {
        // 2 pixels of 16-bit: high bytes then low bytes.
        let f = frame(&[&[1, 0x12, 0x34], &[1, 0x56, 0x78]]);
        assert_eq!(decode(&f, 2, 1, 2).unwrap(), [0x56, 0x12, 0x78, 0x34]);
        // 32-bit: four segments, most significant first.
        let f = frame(&[&[0, 1], &[0, 2], &[0, 3], &[0, 4]]);
        assert_eq!(decode(&f, 1, 1, 4).unwrap(), [4, 3, 2, 1]);
        // RGB 8-bit: one plane per sample, interleaved on output.
        let f = frame(&[&[1, 10, 11], &[1, 20, 21], &[1, 30, 31]]);
        assert_eq!(decode(&f, 2, 3, 1).unwrap(), [10, 20, 30, 11, 21, 31]);
    }

    #[test]
    fn hostile_headers_and_short_segments_are_refused() {
        let mut f = frame(&[&[0, 1]]);
        f[0] = 15; // more segments than the image has
        assert!(decode(&f, 1, 1, 1).is_err());
        f[0] = 1;
        f[4] = 200; // offset past the end
        assert!(decode(&f, 1, 1, 1).is_err());
        assert!(decode(&frame(&[&[3, 1]]), 4, 1, 1).is_err());
        assert!(decode(&frame(&[&[0xFE]]), 4, 1, 1).is_err());
        assert!(decode(&[0; 10], 1, 1, 1).is_err());
    }
}
