//! What a file is, told by its first bytes and never by its name: a DICOM file named `.jpg` is
//! DICOM, for the raw route and for ingest alike.

/// Bytes enough to tell: a DICOM preamble and its `DICM`.
pub const BYTES: usize = 132;

/// The kinds of file framegate tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Dicom,
    Jpeg,
    Png,
    Zip,
    Other,
}

/// The kind of file that begins with `head` (up to [`BYTES`] of it).
pub fn sniff(head: &[u8]) -> FileKind {
    match head {
        [0xFF, 0xD8, 0xFF, ..] => FileKind::Jpeg,
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => FileKind::Png,
        [b'P', b'K', 3, 4, ..] | [b'P', b'K', 5, 6, ..] => FileKind::Zip,
        h if crate::dicom::index::looks_like_dicom(h) => FileKind::Dicom,
        _ => FileKind::Other,
    }
}
