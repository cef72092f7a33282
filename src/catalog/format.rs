//! The catalog's bytes: a versioned, length-prefixed binary record per object.
//!
//! Layout (all integers little-endian):
//! `FGCATLG\n` · version u32 · count u32 · then per object: name (u16 length + UTF-8, the key
//! relative to the catalog's folder, segments joined by `/`) · size u64 · ETag (u16 + UTF-8) ·
//! header (u32 + the object's first bytes through the Pixel Data element's header, exactly
//! what the index holds) · layout u8 (0 native; 1 encapsulated, then the end of Pixel Data
//! u64, a frame count u32 and each frame's start and end u64).
//!
//! Hand-written rather than CBOR or bincode: a reader walks a slice and hands each header out
//! as a `Bytes` slice of the one GET's body, with no copy and nothing to allocate but the frame
//! lists; every length is checked against what is left, so a broken or hostile catalog costs
//! at most its own size.

use std::ops::Range;

use bytes::Bytes;

/// What the file starts with.
const MAGIC: &[u8; 8] = b"FGCATLG\n";
/// The format this build reads and writes; a catalog with another is ignored.
pub const VERSION: u32 = 1;

/// One catalogued object version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Key relative to the catalog's folder, segments joined by `/`.
    pub name: String,
    /// Size in bytes when catalogued.
    pub size: u64,
    /// Version when catalogued, as the store's listing reports it.
    pub etag: String,
    /// The file's first bytes, through the Pixel Data element's header.
    pub header: Bytes,
    /// For encapsulated data: each frame's range and where Pixel Data ends.
    pub encapsulated: Option<(Vec<Range<u64>>, u64)>,
}

/// Why a catalog's bytes could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("not a framegate catalog")]
    NotACatalog,
    #[error("catalog format version {0} is not {VERSION}")]
    UnknownVersion(u32),
    #[error("catalog is truncated or malformed")]
    Malformed,
}

/// The bytes of a catalog of `entries`.
pub fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + entries.iter().map(|e| 64 + e.name.len() + e.etag.len() + e.header.len()).sum::<usize>());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(&e.size.to_le_bytes());
        out.extend_from_slice(&(e.etag.len() as u16).to_le_bytes());
        out.extend_from_slice(e.etag.as_bytes());
        out.extend_from_slice(&(e.header.len() as u32).to_le_bytes());
        out.extend_from_slice(&e.header);
        match &e.encapsulated {
            None => out.push(0),
            Some((frames, pixel_end)) => {
                out.push(1);
                out.extend_from_slice(&pixel_end.to_le_bytes());
                out.extend_from_slice(&(frames.len() as u32).to_le_bytes());
                for f in frames {
                    out.extend_from_slice(&f.start.to_le_bytes());
                    out.extend_from_slice(&f.end.to_le_bytes());
                }
            }
        }
    }
    out
}

/// Whether `entry` fits the format's length fields: a name, ETag or header too long for them
/// is left out of a catalog (and read the old way).
pub fn fits(entry: &Entry) -> bool {
    entry.name.len() <= usize::from(u16::MAX)
        && entry.etag.len() <= usize::from(u16::MAX)
        && u32::try_from(entry.header.len()).is_ok()
        && entry.encapsulated.as_ref().is_none_or(|(f, _)| u32::try_from(f.len()).is_ok())
}

/// The entries of a catalog.
pub fn decode(bytes: &Bytes) -> Result<Vec<Entry>, FormatError> {
    let mut r = Cursor { bytes, at: 0 };
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(FormatError::NotACatalog);
    }
    r.at = MAGIC.len();
    let version = r.u32()?;
    if version != VERSION {
        return Err(FormatError::UnknownVersion(version));
    }
    let count = r.u32()? as usize;
    // Each entry takes at least 25 bytes: a count larger than the rest could hold is a lie, and
    // must not size an allocation.
    let mut entries = Vec::with_capacity(count.min(r.left() / 25));
    for _ in 0..count {
        let n = r.u16()?;
        let name = r.text(usize::from(n))?;
        let size = r.u64()?;
        let n = r.u16()?;
        let etag = r.text(usize::from(n))?;
        let n = r.u32()?;
        let header = r.take(n as usize)?;
        let encapsulated = match r.u8()? {
            0 => None,
            1 => {
                let pixel_end = r.u64()?;
                let n = r.u32()? as usize;
                if n > r.left() / 16 {
                    return Err(FormatError::Malformed);
                }
                let frames = (0..n).map(|_| Ok(r.u64()?..r.u64()?)).collect::<Result<Vec<_>, FormatError>>()?;
                Some((frames, pixel_end))
            }
            _ => return Err(FormatError::Malformed),
        };
        entries.push(Entry { name, size, etag, header, encapsulated });
    }
    if r.left() != 0 {
        return Err(FormatError::Malformed);
    }
    Ok(entries)
}

/// Reads fields off a catalog's bytes, each bounded by what is left.
struct Cursor<'a> {
    bytes: &'a Bytes,
    at: usize,
}

impl Cursor<'_> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: usize) -> Result<Bytes, FormatError> {
        if n > self.left() {
            return Err(FormatError::Malformed);
        }
        self.at += n;
        Ok(self.bytes.slice(self.at - n..self.at))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        let b = self.take(N)?;
        b[..].try_into().map_err(|_| FormatError::Malformed)
    }

    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, FormatError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn text(&mut self, n: usize) -> Result<String, FormatError> {
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| FormatError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, encapsulated: bool) -> Entry {
        Entry { name: name.into(), size: 1234, etag: "abc".into(), header: Bytes::from_static(b"DICM header"), encapsulated: encapsulated.then(|| (vec![10..20, 20..40], 48)) }
    }

    #[test]
    fn entries_come_back_as_written() {
        let entries = vec![entry("s/1.dcm", false), entry("s/2.dcm", true)];
        assert_eq!(decode(&Bytes::from(encode(&entries))).unwrap(), entries);
    }

    #[test]
    fn another_version_and_other_bytes_are_refused() {
        let mut bytes = encode(&[entry("a", false)]);
        bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(decode(&Bytes::from(bytes)), Err(FormatError::UnknownVersion(2)));
        assert_eq!(decode(&Bytes::from_static(b"\x7fELF")), Err(FormatError::NotACatalog));
    }

    #[test]
    fn every_truncation_is_malformed_not_a_panic() {
        let bytes = encode(&[entry("a", true), entry("b", false)]);
        for end in 12..bytes.len() {
            assert_eq!(decode(&Bytes::copy_from_slice(&bytes[..end])), Err(FormatError::Malformed), "cut at {end}");
        }
    }

    #[test]
    fn a_huge_count_allocates_nothing_up_front() {
        let mut bytes = encode(&[]);
        bytes[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&Bytes::from(bytes)), Err(FormatError::Malformed));
    }
}
