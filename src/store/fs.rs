//! A local folder as the store.

use std::fs::{File, Metadata};
use std::os::unix::fs::OpenOptionsExt;
use std::io::{self, Seek, SeekFrom};
use std::ops::Range;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::{ByteStream, Listed, ObjectMeta, Store, StoreError};
use crate::key::ObjectKey;

/// How much of a file the raw route reads per chunk; also the unit of back-pressure.
const STREAM_CHUNK: usize = 64 * 1024;
/// Listings stop here: a prefix holding more is a misuse, not a series.
const MAX_LISTED: usize = 100_000;

/// Objects are files below `root`; a key can never leave it (see [`crate::key`]) and
/// symbolic links that lead outside it are refused.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    /// A store over `root`, which must be an existing folder.
    pub fn new(root: &Path) -> io::Result<Self> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, "store root is not a folder"));
        }
        Ok(FsStore { root })
    }

    fn path(&self, key: &ObjectKey) -> PathBuf {
        let mut path = self.root.clone();
        path.extend(key.segments());
        path
    }

    /// Opens the file behind `key`, refusing folders and links out of the root.
    fn open(&self, key: &ObjectKey) -> Result<(File, Metadata), StoreError> {
        let path = self.path(key);
        let real = path.canonicalize().map_err(not_found)?;
        if !real.starts_with(&self.root) {
            return Err(StoreError::NotFound);
        }
        // A FIFO, socket or device would block the open (a FIFO until a writer comes) and pin
        // a blocking thread: the type is checked first, and the open never waits.
        if !std::fs::metadata(&real).map_err(not_found)?.is_file() {
            return Err(StoreError::NotFound);
        }
        let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&real).map_err(not_found)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(StoreError::NotFound);
        }
        Ok((file, meta))
    }

    /// Opens and checks that the file is still the version `expected` describes.
    fn open_version(&self, key: &ObjectKey, expected: &ObjectMeta) -> Result<File, StoreError> {
        let (file, meta) = self.open(key)?;
        if object_meta(&meta) != *expected {
            return Err(StoreError::Changed);
        }
        Ok(file)
    }
}

impl FsStore {
    /// Every regular file below the prefix's folder (or the prefix itself, if it is a file).
    fn walk(&self, prefix: &ObjectKey) -> Result<Vec<Listed>, StoreError> {
        let mut out = Vec::new();
        let mut pending = vec![(self.path(prefix), prefix.segments().to_vec())];
        while let Some((path, segments)) = pending.pop() {
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                Err(e) if out.is_empty() && pending.is_empty() => return Err(not_found(e)),
                Err(_) => continue,
            };
            if meta.is_file() {
                if let Ok(key) = ObjectKey::from_segments(segments) {
                    out.push(Listed { key, meta: object_meta(&meta) });
                }
            } else if meta.is_dir() {
                for entry in std::fs::read_dir(&path)? {
                    let entry = entry?;
                    // Names that are not UTF-8 or not valid segments cannot be addressed by a URL.
                    let Ok(name) = entry.file_name().into_string() else { continue };
                    let mut child = segments.clone();
                    child.push(name);
                    pending.push((entry.path(), child));
                }
            }
            if out.len() > MAX_LISTED {
                return Err(StoreError::Unavailable(format!("more than {MAX_LISTED} objects under one prefix")));
            }
        }
        Ok(out)
    }
}

fn not_found(e: io::Error) -> StoreError {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => StoreError::NotFound,
        _ => StoreError::Io(e),
    }
}

fn object_meta(meta: &Metadata) -> ObjectMeta {
    // Size, change time and inode change whenever the file is rewritten or replaced.
    let etag = format!("{:x}-{:x}-{:x}{:08x}", meta.ino(), meta.size(), meta.mtime(), meta.mtime_nsec());
    ObjectMeta { size: meta.size(), etag }
}

fn check_range(meta: &ObjectMeta, range: &Range<u64>) -> io::Result<()> {
    if range.start > range.end || range.end > meta.size {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "read past the end of the object"));
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, StoreError> + Send + 'static) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Io(io::Error::other(e)))?
}

#[async_trait::async_trait]
impl Store for FsStore {
    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta, StoreError> {
        let this = self.clone();
        let key = key.clone();
        blocking(move || this.open(&key).map(|(_, meta)| object_meta(&meta))).await
    }

    async fn read(&self, key: &ObjectKey, meta: &ObjectMeta, range: Range<u64>) -> Result<Bytes, StoreError> {
        check_range(meta, &range)?;
        let (this, key, meta) = (self.clone(), key.clone(), meta.clone());
        blocking(move || {
            let file = this.open_version(&key, &meta)?;
            let len = usize::try_from(range.end - range.start).map_err(io::Error::other)?;
            let mut buf = BytesMut::zeroed(len);
            file.read_exact_at(&mut buf, range.start)?;
            Ok(buf.freeze())
        })
        .await
    }

    async fn stream(&self, key: &ObjectKey, meta: &ObjectMeta, range: Range<u64>) -> Result<ByteStream, StoreError> {
        check_range(meta, &range)?;
        let (this, key, meta) = (self.clone(), key.clone(), meta.clone());
        let start = range.start;
        let file = blocking(move || {
            let mut file = this.open_version(&key, &meta)?;
            file.seek(SeekFrom::Start(start))?;
            Ok(file)
        })
        .await?;
        // A chunk is read only when the client has taken the previous one: back-pressure.
        let body = tokio::fs::File::from_std(file).take(range.end - range.start);
        Ok(Box::pin(ReaderStream::with_capacity(body, STREAM_CHUNK)))
    }

    async fn list(&self, prefix: &ObjectKey) -> Result<Vec<Listed>, StoreError> {
        let (this, prefix) = (self.clone(), prefix.clone());
        blocking(move || this.walk(&prefix)).await
    }
}
