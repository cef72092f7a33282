//! The entries of a ZIP archive, read through its central directory one after another. Entries
//! are never written under their own names (objects are named by their pseudonymous UIDs), so
//! `../` and absolute paths could not escape the destination; they are refused all the same, as
//! are links, encrypted entries and entries that inflate past the archive's limits.

use std::io::{self, Read, Seek, SeekFrom};

use zip::ZipArchive;

use super::manifest::{Kind, Refusal};
use super::{Job, OwnWords, Place, ReadSeek, io_reason, read_up_to, source};
use crate::sniff;

mod records;

/// One entry of the directory, as the zip crate keeps it or as it folded it away.
struct File {
    /// Its name, for numbering only.
    name: String,
    /// The size it declares, for numbering only.
    size: u64,
    /// Where its local header stands.
    header_start: u64,
    /// Its index in the crate's directory; `None` for a second entry with the same name, which
    /// the crate does not keep.
    index: Option<usize>,
}

/// Ingests every entry of the archive at `place` that this process's shard takes.
pub(super) fn each(job: &Job, place: &Place, mut reader: Box<dyn ReadSeek>) {
    // The parser holds every directory record in memory: an archive of millions of empty
    // entries, which a 2 GiB upload can be, is refused before it is parsed.
    let max = job.options.limits.max_archive_entries;
    let refuse = |reason: String| {
        if job.options.shard.takes(place) {
            job.manifest.refuse(place, Kind::Zip, 0, Refusal::Fail(reason));
        }
    };
    let unreadable = |why: &str| format!("not a readable ZIP archive (truncated or damaged): {why}");
    match declared_entries(&mut reader) {
        Ok(n) if n > max => return refuse(format!("an archive of more than {max} entries: refused, unpack it and ingest the folder")),
        Ok(_) => {}
        Err(_) => return refuse(unreadable("no end of central directory record")),
    }
    let mut archive = match ZipArchive::new(reader) {
        Ok(archive) => archive,
        Err(e) => return refuse(unreadable(zip_reason(&e))),
    };
    // Names and sizes decide the numbering and the stacks, as for a folder source; they go no
    // further. They come from the directory already read, with no further I/O.
    let mut files: Vec<File> = (0..archive.len())
        .map(|i| match archive.by_index_data(i) {
            Ok(data) => File { name: data.name().map(|n| n.into_owned()).unwrap_or_default(), size: data.size(), header_start: data.header_start(), index: Some(i) },
            Err(_) => File { name: String::new(), size: 0, header_start: 0, index: Some(i) },
        })
        .collect();
    if archive.has_duplicate_names() {
        archive = match folded(archive, &mut files, max) {
            Ok(archive) => archive,
            Err(why) => return refuse(unreadable(why)),
        };
    }
    let spans = Spans::new(&files, archive.central_directory_start());
    let mut by_name: Vec<usize> = (0..files.len()).collect();
    by_name.sort_by(|&a, &b| natord::compare(&files[a].name, &files[b].name).then_with(|| files[a].name.cmp(&files[b].name)));
    let sorted: Vec<(&str, u64)> = by_name.iter().map(|&i| (files[i].name.as_str(), files[i].size)).collect();
    let mut places: Vec<(usize, Place)> = by_name.iter().copied().zip(source::number(&sorted, place.source, Some(place))).collect();
    // Read in the order the entries lie in the archive, so a store source is read forward.
    places.sort_by_key(|(file, _)| files[*file].header_start);
    job.progress.found(places.len() as u64);
    let mut unpacked = 0u64;
    let mut headers_taken = std::collections::HashSet::new();
    for (file, entry_place) in places {
        if job.progress.cancelled() {
            break;
        }
        let File { header_start, index, .. } = files[file];
        let size = match index {
            Some(index) => {
                // Two directory records over one local header are one entry's bytes counted twice
                // (an overlapping ZIP bomb): the second is refused.
                let bytes = Occupied { span: spans.of(header_start), shared: !headers_taken.insert(header_start) };
                entry(job, &mut archive, index, &entry_place, bytes, &mut unpacked)
            }
            None => {
                if job.options.shard.takes(&entry_place) {
                    job.manifest.refuse(&entry_place, Kind::Other, 0, Refusal::Fail("a second entry with the same name: refused, only the last of them is read".into()));
                }
                0
            }
        };
        job.progress.done(size);
    }
}

/// Reads the directory again record by record and adds to `files` the records the crate folded
/// away. Only an archive with a name twice pays for this; answers the archive, parsed again.
fn folded(archive: ZipArchive<Box<dyn ReadSeek>>, files: &mut Vec<File>, max: u64) -> Result<ZipArchive<Box<dyn ReadSeek>>, &'static str> {
    let (start, offset) = (archive.central_directory_start(), archive.offset());
    let mut reader = archive.into_inner();
    let records = records::read(&mut reader, start, offset, max).map_err(|_| "read failed")?;
    reader.rewind().map_err(|_| "read failed")?;
    let archive = ZipArchive::new(reader).map_err(|e| zip_reason(&e))?;
    // Each entry the crate kept claims one record at its local header; the records left over
    // are those it folded away.
    let mut kept: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    for file in files.iter() {
        *kept.entry(file.header_start).or_default() += 1;
    }
    for record in records {
        match kept.get_mut(&record.header_start) {
            Some(n) if *n > 0 => *n -= 1,
            _ => files.push(File { name: String::from_utf8_lossy(&record.name).into_owned(), size: record.size, header_start: record.header_start, index: None }),
        }
    }
    Ok(archive)
}

/// Where each local header stands, and where the directory starts: an entry's real size in the
/// archive is the distance from its header to the next one (or to the directory).
struct Spans {
    starts: Vec<u64>,
    directory: u64,
}

impl Spans {
    fn new(files: &[File], directory: u64) -> Self {
        let mut starts: Vec<u64> = files.iter().map(|f| f.header_start).collect();
        starts.sort_unstable();
        starts.dedup();
        Spans { starts, directory }
    }

    /// The bytes between the header at `start` and whatever follows it: its header, name,
    /// data and data descriptor, an upper bound on its compressed size that no field declares.
    fn of(&self, start: u64) -> u64 {
        let after = self.starts.partition_point(|&s| s <= start);
        let next = self.starts.get(after).copied().unwrap_or(self.directory).min(self.directory);
        next.saturating_sub(start)
    }
}

/// What an entry really occupies in the archive.
#[derive(Clone, Copy)]
struct Occupied {
    /// From its local header to the next header or the directory.
    span: u64,
    /// Whether an earlier entry has the same local header.
    shared: bool,
}

/// The entry count an archive's end-of-central-directory record declares (its ZIP64 record's
/// when the short one is saturated), which is what the parser will read. Every record-shaped
/// run in the tail counts, the largest winning: a parser lenient about where the record stands
/// must not find a larger count than this check did.
fn declared_entries(reader: &mut Box<dyn ReadSeek>) -> io::Result<u64> {
    let size = reader.seek(SeekFrom::End(0))?;
    // The record is 22 bytes, followed by a comment of at most 65,535.
    let tail_len = size.min(22 + 65_535);
    reader.seek(SeekFrom::Start(size - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    reader.read_exact(&mut tail)?;
    let mut most = None;
    for at in (0..tail.len().saturating_sub(21)).filter(|&at| tail[at..].starts_with(b"PK\x05\x06")) {
        let short = u64::from(u16::from_le_bytes([tail[at + 10], tail[at + 11]]));
        let count = if short == 0xFFFF { zip64_entries(reader, &tail, at)? } else { short };
        most = most.max(Some(count));
    }
    reader.rewind()?;
    most.ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))
}

/// The entry count of the ZIP64 record that the 20-byte locator before the record at `at` in
/// `tail` points to.
fn zip64_entries(reader: &mut Box<dyn ReadSeek>, tail: &[u8], at: usize) -> io::Result<u64> {
    let invalid = || io::Error::from(io::ErrorKind::InvalidData);
    let locator = at.checked_sub(20).and_then(|l| tail.get(l..l + 20)).filter(|l| l.starts_with(b"PK\x06\x07")).ok_or_else(invalid)?;
    let offset = u64::from_le_bytes(locator[8..16].try_into().map_err(|_| invalid())?);
    let mut record = [0u8; 56];
    reader.seek(SeekFrom::Start(offset))?;
    reader.read_exact(&mut record)?;
    if !record.starts_with(b"PK\x06\x06") {
        return Err(invalid());
    }
    Ok(u64::from_le_bytes(record[32..40].try_into().map_err(|_| invalid())?))
}

/// One entry; answers the bytes it declared.
fn entry(job: &Job, archive: &mut ZipArchive<Box<dyn ReadSeek>>, index: usize, place: &Place, bytes: Occupied, unpacked: &mut u64) -> u64 {
    let limits = job.options.limits;
    let unreadable = |e: &zip::result::ZipError| {
        job.manifest.refuse(place, Kind::Other, 0, Refusal::Fail(format!("unreadable entry: {}", zip_reason(e))));
        0
    };
    let mine = job.options.shard.takes(place);
    // Its directory record first: an encrypted entry is refused before any attempt to read it.
    let record = match archive.by_index_data(index) {
        Ok(record) => record,
        Err(e) if mine => return unreadable(&e),
        Err(_) => return 0,
    };
    if record.is_dir() {
        return 0;
    }
    let escapes = record.enclosed_name().is_none() || record.name().map_or(true, |name| leaves_the_archive(&name));
    let (size, link, encrypted) = (record.size(), record.is_symlink(), record.encrypted());
    // Held against the bytes the entry really spans, not the compressed size it declares, and
    // for every entry: many small entries of zeros add up to a bomb as well as one large one.
    let allowed = limits.max_ratio.saturating_mul(bytes.span);
    let refusal = if escapes {
        Some("its path leaves the archive (../ or absolute): refused".to_owned())
    } else if link {
        Some("a symbolic link: refused".to_owned())
    } else if encrypted {
        Some("an encrypted entry: refused".to_owned())
    } else if bytes.shared {
        Some("shares its bytes with another entry (overlapping entries, a ZIP bomb?): refused".to_owned())
    } else if size > allowed {
        Some(format!("inflates {}:1 of the bytes it takes in the archive, past the limit of {}:1 (a ZIP bomb?): refused", size / bytes.span.max(1), limits.max_ratio))
    } else if unpacked.saturating_add(size) > limits.max_unpacked_bytes {
        Some(format!("the archive unpacks to more than {} MiB: refused", limits.max_unpacked_bytes >> 20))
    } else {
        None
    };
    if let Some(reason) = refusal {
        // Every shard weighs every entry, so all agree on the archive's total; the one that
        // takes the entry reports it.
        if mine {
            job.manifest.refuse(place, Kind::Other, size, Refusal::Fail(reason));
        }
        return 0;
    }
    *unpacked += size;
    if !mine {
        return size;
    }
    let mut file = match archive.by_index(index) {
        Ok(file) => file,
        Err(e) => return unreadable(&e),
    };
    // The declared size is all an entry may give: one that inflates past it is cut off, and the
    // reader of the entry sees an error rather than a bomb. Since the declared size was held to
    // the ratio of the entry's real span and to the archive's total above, this bound enforces
    // both while inflating, whatever the entry's fields claim.
    let mut bounded = Declared { inner: &mut file, left: size };
    match read_up_to(&mut bounded, sniff::BYTES) {
        Ok(head) => {
            let kind = sniff::sniff(&head);
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
                _ => Err(OwnWords::io("the entry inflates past its declared size", io::ErrorKind::InvalidData)),
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn archive(entries: usize, comment: &[u8]) -> Box<dyn ReadSeek> {
        let mut writer = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        for i in 0..entries {
            writer.start_file(format!("e{i}"), zip::write::SimpleFileOptions::default()).unwrap();
            writer.write_all(b"x").unwrap();
        }
        writer.set_raw_comment(comment.into()).unwrap();
        Box::new(writer.finish().unwrap())
    }

    #[test]
    fn an_entry_spans_to_the_next_header_or_the_directory() {
        let file = |header_start| File { name: String::new(), size: 0, header_start, index: None };
        let spans = Spans::new(&[file(100), file(0), file(100), file(250)], 400);
        assert_eq!([spans.of(0), spans.of(100), spans.of(250)], [100, 150, 150]);
        // A header at or past the directory occupies nothing.
        assert_eq!(Spans::new(&[file(0), file(500)], 400).of(500), 0);
    }

    #[test]
    fn the_declared_entry_count_is_read_before_parsing_and_a_fake_record_cannot_lower_it() {
        assert_eq!(declared_entries(&mut archive(3, b"")).unwrap(), 3);
        // A record-shaped comment declaring more than the archive holds: the larger count wins.
        let fake = [&b"PK\x05\x06"[..], &[0; 6], &60_000u16.to_le_bytes(), &[0; 10]].concat();
        assert_eq!(declared_entries(&mut archive(3, &fake)).unwrap(), 60_000);
        // The reader is left at the start for the parser.
        let mut reader = archive(2, b"");
        declared_entries(&mut reader).unwrap();
        assert_eq!(reader.stream_position().unwrap(), 0);
        assert!(declared_entries(&mut (Box::new(io::Cursor::new(vec![0u8; 100])) as Box<dyn ReadSeek>)).is_err());
    }
}
