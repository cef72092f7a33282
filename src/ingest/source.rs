//! What to read: local files and folders, or objects under a store prefix, as entries in a
//! stable order; and which shard takes which entry.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::runtime::Handle;

use super::{Place, ReadSeek};
use crate::key::ObjectKey;
use crate::store::{ObjectMeta, Store};

/// Entries in one folder at most: a source holding more is a misuse, not a study.
const MAX_ENTRIES: usize = 1_000_000;
/// Bytes fetched by a store source's first read: enough to tell what a file is.
const FIRST_CHUNK: u64 = 64 << 10;
/// Bytes fetched per read from a store source at most, as reads go on forward.
const STORE_CHUNK: u64 = 8 << 20;
/// Extensions the manifest may repeat: any other is left out, since `Smith.19650312` would
/// carry a birth date into it.
const KNOWN_EXTENSIONS: [&str; 29] = [
    "dcm", "dicom", "dic", "ima", "img", "jpg", "jpeg", "jpe", "png", "zip", "pdf", "txt", "htm", "html", "xml", "inf", "ini", "exe", "dll", "jar", "bat", "cmd", "js", "json", "css",
    "gif", "bmp", "tif", "tiff",
];

/// One SOURCE argument.
#[derive(Clone)]
pub enum Source {
    /// A local file (DICOM, image or ZIP) or a folder, read recursively.
    Local(PathBuf),
    /// Every object under `prefix` in a store: an S3 bucket holding identified files.
    Store {
        /// The store.
        store: Arc<dyn Store>,
        /// The prefix whose objects are read.
        prefix: ObjectKey,
    },
    /// An open file: an upload, spooled.
    File {
        /// The file.
        file: Arc<std::fs::File>,
        /// The name its stack is told by, for an image.
        name: String,
    },
}

/// `--shard i/n`: this process takes the entries whose keyed position falls to `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This process's share, from 0.
    pub index: u64,
    /// How many processes share the sources.
    pub count: u64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl Shard {
    /// Parses `i/n` with `i < n`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("shard {text:?} is not i/n with 0 <= i < n");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (i.trim().parse::<u64>().map_err(|_| bad())?, n.trim().parse::<u64>().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether this shard takes the entry at `place`: by a hash of its path, so every process
    /// agrees without talking to the others even when their listings differ (a prefix still
    /// filling), and a folder's files spread evenly.
    pub fn takes(&self, place: &Place) -> bool {
        self.count == 1 || place.shard % self.count == self.index
    }

    /// Whether this shard takes the thing named `name` (a study folder, for the catalog
    /// backfill): by a hash of the name, so every process agrees.
    pub fn takes_name(&self, name: &str) -> bool {
        let digest = crate::cache::digest(&[name.as_bytes()]);
        let hash = u64::from_str_radix(&digest[..15], 16).unwrap_or_default();
        self.count == 1 || hash % self.count == self.index
    }
}

/// One file or object of a source.
pub(super) struct Entry {
    /// Where it is, as the manifest tells it.
    pub place: Place,
    /// Its size in bytes.
    pub size: u64,
    /// Why it is not read at all (a symbolic link).
    pub refused: Option<String>,
    open: Open,
}

enum Open {
    File(PathBuf),
    Handle(Arc<std::fs::File>),
    Store(Arc<dyn Store>, ObjectKey, ObjectMeta),
    Nothing,
}

impl Entry {
    /// A reader over the whole entry.
    pub fn open(&self, handle: &Handle) -> io::Result<Box<dyn ReadSeek>> {
        match &self.open {
            Open::File(path) => Ok(Box::new(std::fs::File::open(path)?)),
            Open::Handle(file) => {
                let mut file = file.try_clone()?;
                io::Seek::rewind(&mut file)?;
                Ok(Box::new(file))
            }
            Open::Store(store, key, meta) => Ok(Box::new(StoreReader::new(handle.clone(), store.clone(), key.clone(), meta.clone()))),
            Open::Nothing => Err(io::Error::other("not readable")),
        }
    }
}

impl Source {
    /// The entries of source number `n`, sorted by path in natural order (`img2` before
    /// `img10`), with each one's position among those in its folder.
    pub(super) fn entries(&self, n: usize, handle: &Handle) -> io::Result<Vec<Entry>> {
        let mut found: Vec<(String, u64, Open, Option<String>)> = Vec::new();
        match self {
            Source::Local(path) => {
                // A path given on the command line is followed (`/media/cdrom` may be a link);
                // links inside it are not.
                let meta = std::fs::metadata(path)?;
                if meta.is_dir() {
                    walk(path, String::new(), &mut found)?;
                } else {
                    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file").to_owned();
                    found.push((name, meta.len(), Open::File(path.clone()), None));
                }
            }
            Source::File { file, name } => found.push((name.clone(), file.metadata()?.len(), Open::Handle(file.clone()), None)),
            Source::Store { store, prefix } => {
                let listed = handle.block_on(store.list(prefix)).map_err(io::Error::other)?;
                let strip = prefix.depth();
                for object in listed {
                    let path = object.key.segments()[strip..].join("/");
                    found.push((path, object.meta.size, Open::Store(store.clone(), object.key, object.meta), None));
                }
            }
        }
        // Natural order ties names that differ only in spaces: the plain order settles them.
        found.sort_by(|a, b| natord::compare(&a.0, &b.0).then_with(|| a.0.cmp(&b.0)));
        let files: Vec<(&str, u64)> = found.iter().map(|(path, size, ..)| (path.as_str(), *size)).collect();
        Ok(number(&files, n, None).into_iter().zip(found).map(|(place, (_, size, open, refused))| Entry { place, size, refused, open }).collect())
    }
}

/// Places for `files` (path and size, sorted): each one's item number, and its position among
/// the files of its folder. A folder is told by the names and sizes of all its files, not by
/// where it is: two CDs mounted at the same path are two stacks, and the same CD read twice is
/// the same one. The files of an archive (`parent`) are told by the archive's own identity
/// too, so two uploads of equally named files are two stacks.
pub(super) fn number(files: &[(&str, u64)], source: usize, parent: Option<&Place>) -> Vec<Place> {
    use std::collections::HashMap;
    let split = |path: &'_ str| -> (String, String) {
        let (folder, name) = path.rsplit_once('/').unwrap_or(("", path));
        (folder.to_owned(), name.to_owned())
    };
    let within = parent.map(|p| format!("{}|{}", p.folder, p.position)).unwrap_or_default();
    let mut folders: HashMap<String, Sha256> = HashMap::new();
    for (path, size) in files {
        let (folder, name) = split(path);
        folders.entry(folder).or_insert_with(|| Sha256::new().chain_update(format!("{within}\0"))).update(format!("{name}\0{size}\0"));
    }
    let folders: HashMap<String, String> = folders.into_iter().map(|(folder, hash)| (folder, hex::encode(hash.finalize()))).collect();
    let mut positions: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(files.len());
    for (i, (path, _)) in files.iter().enumerate() {
        let (folder, name) = split(path);
        let position = positions.entry(folder.clone()).or_insert(0);
        *position += 1;
        let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).filter(|e| KNOWN_EXTENSIONS.contains(&e.as_str()));
        let (item, entry) = match parent {
            Some(parent) => (parent.item, Some(i)),
            None => (i, None),
        };
        let digest = Sha256::new().chain_update(format!("{source}|{within}|{path}")).finalize();
        let shard = u64::from_le_bytes(digest[..8].try_into().unwrap_or_default());
        out.push(Place { source, item, entry, extension, folder: folders.get(&folder).cloned().unwrap_or_default(), position: *position, shard });
    }
    out
}

/// Every file below `dir`, recursively; links are listed but not followed, since one could
/// lead anywhere on the machine. What cannot be read (a folder without permission, a device) is
/// listed with the reason, and the walk goes on.
fn walk(dir: &Path, relative: String, out: &mut Vec<(String, u64, Open, Option<String>)>) -> io::Result<()> {
    let refused = |path: String, why: &str| (path, 0, Open::Nothing, Some(why.to_owned()));
    let mut children = match std::fs::read_dir(dir).and_then(|listing| listing.collect::<Result<Vec<_>, _>>()) {
        Ok(children) => children,
        Err(_) => {
            out.push(refused(relative, "a folder that cannot be read: skipped"));
            return Ok(());
        }
    };
    children.sort_by_key(|c| c.file_name());
    for child in children {
        let name = child.file_name().to_string_lossy().into_owned();
        let path = if relative.is_empty() { name } else { format!("{relative}/{name}") };
        match (child.file_type(), child.metadata()) {
            (Ok(kind), _) if kind.is_symlink() => out.push(refused(path, "a symbolic link: not followed")),
            (Ok(kind), _) if kind.is_dir() => walk(&child.path(), path, out)?,
            (Ok(kind), Ok(meta)) if kind.is_file() => out.push((path, meta.len(), Open::File(child.path()), None)),
            (Ok(_), Ok(_)) => out.push(refused(path, "not a regular file (a device, socket or pipe): skipped")),
            _ => out.push(refused(path, "a file that cannot be read: skipped")),
        }
        if out.len() > MAX_ENTRIES {
            return Err(io::Error::other(format!("more than {MAX_ENTRIES} files in one source")));
        }
    }
    Ok(())
}

/// An object in a store read as a file: ranged reads of a few MiB as the reader moves, so a
/// ZIP archive in S3 is read by its directory without downloading it first.
struct StoreReader {
    handle: Handle,
    store: Arc<dyn Store>,
    key: ObjectKey,
    meta: ObjectMeta,
    position: u64,
    /// The bytes last fetched and where they start.
    chunk: Bytes,
    chunk_at: u64,
    /// How much the next fetch asks for: small at first and after a seek (telling a file's kind,
    /// reading an archive's directory), doubling while the reads go on forward.
    next: u64,
}

impl StoreReader {
    fn new(handle: Handle, store: Arc<dyn Store>, key: ObjectKey, meta: ObjectMeta) -> Self {
        StoreReader { handle, store, key, meta, position: 0, chunk: Bytes::new(), chunk_at: 0, next: FIRST_CHUNK }
    }
}

impl io::Read for StoreReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.meta.size || buf.is_empty() {
            return Ok(0);
        }
        let in_chunk = self.position >= self.chunk_at && self.position < self.chunk_at + self.chunk.len() as u64;
        if !in_chunk {
            let forward = !self.chunk.is_empty() && self.position == self.chunk_at + self.chunk.len() as u64;
            self.next = if forward { (self.next * 2).min(STORE_CHUNK) } else { FIRST_CHUNK };
            let range = self.position..(self.position + self.next.max(buf.len() as u64)).min(self.meta.size);
            self.chunk = self.handle.block_on(self.store.read(&self.key, &self.meta, range)).map_err(io::Error::other)?;
            self.chunk_at = self.position;
        }
        let from = (self.position - self.chunk_at) as usize;
        let n = buf.len().min(self.chunk.len() - from);
        buf[..n].copy_from_slice(&self.chunk[from..from + n]);
        self.position += n as u64;
        Ok(n)
    }
}

impl io::Seek for StoreReader {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let target = match to {
            io::SeekFrom::Start(n) => Some(n),
            io::SeekFrom::End(d) => self.meta.size.checked_add_signed(d),
            io::SeekFrom::Current(d) => self.position.checked_add_signed(d),
        };
        self.position = target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_entries_between_them_without_overlap() {
        let names: Vec<String> = (0..1000).map(|i| format!("f{i}")).collect();
        let files: Vec<(&str, u64)> = names.iter().map(|n| (n.as_str(), 1)).collect();
        let places = number(&files, 0, None);
        let shards: Vec<Shard> = (0..3).map(|i| Shard::parse(&format!("{i}/3")).unwrap()).collect();
        let mut counts = [0; 3];
        for place in &places {
            let takers: Vec<usize> = (0..3).filter(|&i| shards[i].takes(place)).collect();
            assert_eq!(takers.len(), 1, "exactly one shard takes each entry");
            counts[takers[0]] += 1;
        }
        assert!(counts.iter().all(|&c| c > 250), "{counts:?}");
        for bad in ["3/3", "1/0", "a/2", "1", "-1/2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn positions_count_within_each_folder() {
        let places = number(&[("a/1.jpg", 1), ("a/2.jpg", 2), ("b/1.jpg", 1), ("c.dcm", 9)], 2, None);
        let got: Vec<(usize, usize, Option<&str>)> = places.iter().map(|p| (p.item, p.position, p.extension.as_deref())).collect();
        assert_eq!(got, [(0, 1, Some("jpg")), (1, 2, Some("jpg")), (2, 1, Some("jpg")), (3, 1, Some("dcm"))]);
        assert_ne!(places[0].folder, places[2].folder);
        assert_eq!(places[0].folder, places[1].folder);
        let moved = number(&[("x/a/1.jpg", 1), ("x/a/2.jpg", 2)], 0, None);
        assert_eq!(moved[0].folder, number(&[("a/1.jpg", 1), ("a/2.jpg", 2)], 2, None)[0].folder, "a folder is told by its files, not its path");
        // The same names and sizes in two different archives (two uploads) are two stacks.
        let archives = number(&[("upload-1", 10), ("upload-2", 10)], 0, None);
        let inside = |archive: &Place| number(&[("a/1.jpg", 1)], 0, Some(archive))[0].folder.clone();
        assert_ne!(inside(&archives[0]), inside(&archives[1]));
        assert_eq!(inside(&archives[0]), inside(&number(&[("upload-1", 10), ("upload-2", 10)], 1, None)[0]), "the same archive, the same stack");
        assert_eq!(places.iter().map(|p| p.extension.as_deref()).collect::<Vec<_>>(), [Some("jpg"), Some("jpg"), Some("jpg"), Some("dcm")]);
        let odd = number(&[("Smith.19650312", 1), ("scan.MRN12345", 1), ("x.DCM", 1)], 0, None);
        assert_eq!(odd.iter().map(|p| p.extension.as_deref()).collect::<Vec<_>>(), [None, None, Some("dcm")], "only common extensions are repeated");
    }
}
