//! The entries of a ZIP archive, read through its central directory one after another. Entries
//! are never written under their own names (objects are named by their pseudonymous UIDs), so
//! `../` and absolute paths could not escape the destination; they are refused all the same, as
//! are links, encrypted entries and entries that inflate past the archive's limits.

use std::io::{self, Read};

use zip::ZipArchive;

use super::manifest::{Kind, Refusal};
use super::{Job, Place, ReadSeek, SNIFF, io_reason, read_up_to, sniff, source};

/// Entries smaller than this are not held to the ratio: a small file of zeros is no bomb.
const RATIO_FLOOR: u64 = 1 << 20;

/// Ingests every entry of the archive at `place` that this process's shard takes.
pub(super) fn each(job: &Job, place: &Place, reader: Box<dyn ReadSeek>) {
    let mut archive = match ZipArchive::new(reader) {
        Ok(archive) => archive,
        Err(e) => {
            job.manifest.refuse(place, Kind::Zip, 0, Refusal::Fail(format!("not a readable ZIP archive (truncated or damaged): {}", zip_reason(&e))));
            return;
        }
    };
    // Names and sizes decide the order and the stacks, as for a folder source; they go no further.
    let files: Vec<(String, u64)> = (0..archive.len())
        .map(|i| {
            let name = archive.name_for_index(i).and_then(Result::ok).map(|n| n.into_owned()).unwrap_or_default();
            (name, archive.by_index_raw(i).map_or(0, |f| f.size()))
        })
        .collect();
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by(|&a, &b| natord::compare(&files[a].0, &files[b].0));
    let sorted: Vec<(&str, u64)> = order.iter().map(|&i| (files[i].0.as_str(), files[i].1)).collect();
    let places = source::number(&sorted, place.source, Some(place.item));
    job.progress.found(places.len() as u64);
    let mut unpacked = 0u64;
    for (index, entry_place) in order.into_iter().zip(places) {
        let size = entry(job, &mut archive, index, &entry_place, &mut unpacked);
        job.progress.done(size);
    }
}

/// One entry; answers the bytes it declared.
fn entry(job: &Job, archive: &mut ZipArchive<Box<dyn ReadSeek>>, index: usize, place: &Place, unpacked: &mut u64) -> u64 {
    let limits = job.options.limits;
    let unreadable = |e: &zip::result::ZipError| {
        job.manifest.refuse(place, Kind::Other, 0, Refusal::Fail(format!("unreadable entry: {}", zip_reason(e))));
        0
    };
    // Its directory record first, undecoded: an encrypted entry is refused before any attempt
    // to read it.
    let raw = match archive.by_index_raw(index) {
        Ok(raw) => raw,
        Err(e) => return unreadable(&e),
    };
    if raw.is_dir() {
        return 0;
    }
    let escapes = raw.enclosed_name().is_none() || raw.name().map_or(true, |name| leaves_the_archive(&name));
    let (size, compressed, link, encrypted) = (raw.size(), raw.compressed_size(), raw.is_symlink(), raw.encrypted());
    drop(raw);
    let refusal = if escapes {
        Some("its path leaves the archive (../ or absolute): refused".to_owned())
    } else if link {
        Some("a symbolic link: refused".to_owned())
    } else if encrypted {
        Some("an encrypted entry: refused".to_owned())
    } else if size > RATIO_FLOOR && size / compressed.max(1) > limits.max_ratio {
        Some(format!("inflates {}:1, past the limit of {}:1 (a ZIP bomb?): refused", size / compressed.max(1), limits.max_ratio))
    } else if unpacked.saturating_add(size) > limits.max_unpacked_bytes {
        Some(format!("the archive unpacks to more than {} MiB: refused", limits.max_unpacked_bytes >> 20))
    } else {
        None
    };
    if let Some(reason) = refusal {
        job.manifest.refuse(place, Kind::Other, size, Refusal::Fail(reason));
        return 0;
    }
    if !job.options.shard.takes(place) {
        return size;
    }
    *unpacked += size;
    let mut file = match archive.by_index(index) {
        Ok(file) => file,
        Err(e) => return unreadable(&e),
    };
    // The declared size is all an entry may give: one that inflates past it is cut off, and the
    // reader of the entry sees an error rather than a bomb.
    let mut bounded = Declared { inner: &mut file, left: size };
    match read_up_to(&mut bounded, SNIFF) {
        Ok(head) => {
            let kind = sniff(&head);
            let mut reader = io::Cursor::new(head).chain(bounded);
            job.object(place, &mut reader, size, kind);
        }
        Err(e) => job.manifest.refuse(place, Kind::Other, size, Refusal::Fail(io_reason(&e))),
    }
    size
}

/// Whether an entry's name is absolute (`/x`, `\\x`, `C:x`) or climbs out (`../x`): an
/// unpacker that trusted it would write outside its folder. The zip crate's own check would
/// take `/tmp/x` for `tmp/x`; an archive that names such paths is refused, not repaired.
fn leaves_the_archive(name: &str) -> bool {
    let drive = name.as_bytes().get(1) == Some(&b':');
    name.starts_with(['/', '\\']) || drive || name.split(['/', '\\']).any(|segment| segment == "..")
}

/// An entry's bytes up to its declared size; more is an error.
struct Declared<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Declared<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::new(io::ErrorKind::InvalidData, "the entry inflates past its declared size")),
            };
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// A ZIP error in our words: its messages can quote entry names.
fn zip_reason(e: &zip::result::ZipError) -> &'static str {
    use zip::result::ZipError;
    match e {
        ZipError::Io(_) => "read failed",
        ZipError::InvalidArchive(_) => "invalid archive",
        ZipError::UnsupportedArchive(_) => "unsupported archive feature",
        ZipError::FileNotFound => "entry not found",
        _ => "archive error",
    }
}
