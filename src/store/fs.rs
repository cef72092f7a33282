//! A local folder as the store.

use std::fs::{File, Metadata};
use std::os::unix::fs::OpenOptionsExt;
use std::io::{self, Seek, SeekFrom};
use std::ops::Range;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::{ByteStream, Listed, ObjectMeta, Store, StoreError};
use crate::key::ObjectKey;

/// How much of a file the raw route reads per chunk; also the unit of back-pressure.
const STREAM_CHUNK: usize = 64 * 1024;
/// Listings stop here: a prefix holding more is a misuse, not a series.
const MAX_LISTED: usize = 100_000;
/// Names of files being written: never listed, and renamed to their key only when whole.
const PARTIAL: &str = ".fg-partial-";

/// Objects are files below `root`; a key can never leave it (see [`crate::key`]), and no
/// symbolic link below the root is followed, for reads, listings or writes: a token is checked
/// against the key, so the key must name the file itself. A link to `../b` inside `a` would
/// otherwise hand `b`'s objects to a token for `a`, even though it never leaves the root.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
    /// Keys the ETag hash, so an ETag cannot be traced back to the file's times.
    etag_key: [u8; 32],
}

/// The ETag key of stores not given one: random, and the same for every store in the process.
static PROCESS_ETAG_KEY: OnceLock<[u8; 32]> = OnceLock::new();

fn process_etag_key() -> io::Result<[u8; 32]> {
    if let Some(key) = PROCESS_ETAG_KEY.get() {
        return Ok(*key);
    }
    let mut key = [0; 32];
    getrandom::fill(&mut key).map_err(io::Error::other)?;
    Ok(*PROCESS_ETAG_KEY.get_or_init(|| key))
}

impl FsStore {
    /// A store over `root`, which must be an existing folder. Its ETags last as long as the
    /// process: see [`FsStore::with_etag_key`] for ETags that survive restarts.
    pub fn new(root: &Path) -> io::Result<Self> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, "store root is not a folder"));
        }
        Ok(FsStore { root, etag_key: process_etag_key()? })
    }

    /// ETags keyed by `secret`: processes given the same secret agree on every ETag, across
    /// restarts, so browsers and NGINX can revalidate against any of them.
    pub fn with_etag_key(mut self, secret: &[u8]) -> Self {
        self.etag_key = Sha256::new().chain_update(b"fg1-etag|").chain_update(secret).finalize().into();
        self
    }

    fn path(&self, key: &ObjectKey) -> PathBuf {
        let mut path = self.root.clone();
        path.extend(key.segments());
        path
    }

    /// The path of `key` when it is where the key says, with no link on the way.
    fn unlinked(&self, key: &ObjectKey) -> Result<PathBuf, StoreError> {
        let path = self.path(key);
        // The root is canonical and a key holds no `.` or `..`, so the two differ only when a
        // folder or the file on the way is a link.
        let real = path.canonicalize().map_err(not_found)?;
        if real != path {
            return Err(StoreError::NotFound);
        }
        Ok(path)
    }

    /// Opens the file behind `key`, refusing folders and links.
    fn open(&self, key: &ObjectKey) -> Result<(File, Metadata), StoreError> {
        let real = self.unlinked(key)?;
        // A FIFO, socket or device would block the open (a FIFO until a writer comes) and pin
        // a blocking thread: the type is checked first, and the open never waits.
        if !std::fs::metadata(&real).map_err(not_found)?.is_file() {
            return Err(StoreError::NotFound);
        }
        // A link put in the file's place since the check is not followed either.
        let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW).open(&real).map_err(not_found)?;
        let meta = file.metadata()?;
        if !meta.is_file() || !opened_at(&file, &real) {
            return Err(StoreError::NotFound);
        }
        Ok((file, meta))
    }

    /// Size and version of a file. The version is a keyed hash of its inode, size and
    /// modification time, which change whenever the file is rewritten or replaced; the hash
    /// keeps an ETag from telling when a study was written.
    fn object_meta(&self, meta: &Metadata) -> ObjectMeta {
        // The fields have a fixed length, so the key as a prefix is a sound keyed hash.
        let mut hash = Sha256::new_with_prefix(self.etag_key);
        for field in [meta.ino(), meta.size(), meta.mtime().cast_unsigned(), meta.mtime_nsec().cast_unsigned()] {
            hash.update(field.to_le_bytes());
        }
        let etag = hex::encode(&hash.finalize()[..16]);
        ObjectMeta { size: meta.size(), etag }
    }

    /// Opens and checks that the file is still the version `expected` describes.
    fn open_version(&self, key: &ObjectKey, expected: &ObjectMeta) -> Result<File, StoreError> {
        let (file, meta) = self.open(key)?;
        if self.object_meta(&meta) != *expected {
            return Err(StoreError::Changed);
        }
        Ok(file)
    }
}

impl FsStore {
    /// Every regular file below the prefix's folder (or the prefix itself, if it is a file);
    /// links are neither listed nor entered.
    fn walk(&self, prefix: &ObjectKey) -> Result<Vec<Listed>, StoreError> {
        let mut out = Vec::new();
        let mut pending = vec![(self.unlinked(prefix)?, prefix.segments().to_vec())];
        while let Some((path, segments)) = pending.pop() {
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                Err(e) if out.is_empty() && pending.is_empty() => return Err(not_found(e)),
                Err(_) => continue,
            };
            if meta.is_file() {
                if let Ok(key) = ObjectKey::from_segments(segments) {
                    out.push(Listed { key, meta: self.object_meta(&meta) });
                }
            } else if meta.is_dir() {
                for entry in std::fs::read_dir(&path)? {
                    let entry = entry?;
                    // Names that are not UTF-8 or not valid segments cannot be addressed by a URL.
                    let Ok(name) = entry.file_name().into_string() else { continue };
                    if name.starts_with(PARTIAL) {
                        continue;
                    }
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

impl FsStore {
    /// The folder a new object of `key` goes in, created one level at a time if need be, each
    /// level checked to be a folder and not a link: a link on the way would put the object
    /// under another key than the one its token was checked against.
    fn folder_for(&self, key: &ObjectKey) -> Result<PathBuf, StoreError> {
        let linked = || StoreError::Io(io::Error::new(io::ErrorKind::PermissionDenied, "a folder of the key is a symbolic link or a file"));
        let segments = key.segments();
        let mut folder = self.root.clone();
        for segment in &segments[..segments.len().saturating_sub(1)] {
            folder.push(segment);
            if let Err(e) = std::fs::create_dir(&folder)
                && e.kind() != io::ErrorKind::AlreadyExists
            {
                return Err(e.into());
            }
            // Checked after the create, so a folder made by a concurrent write is checked too.
            if !std::fs::symlink_metadata(&folder)?.is_dir() {
                return Err(linked());
            }
        }
        Ok(folder)
    }
}

/// Whether `file` was opened at `path`, as the kernel tells it: a folder on the way swapped for
/// a link after [`FsStore::unlinked`] checked it would be seen here. Where `/proc` cannot tell,
/// the check before the open stands alone.
fn opened_at(file: &File, path: &Path) -> bool {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).map_or(true, |opened| opened == path)
}

fn not_found(e: io::Error) -> StoreError {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => StoreError::NotFound,
        _ => StoreError::Io(e),
    }
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
        blocking(move || this.open(&key).map(|(_, meta)| this.object_meta(&meta))).await
    }

    async fn read(&self, key: &ObjectKey, meta: &ObjectMeta, range: Range<u64>) -> Result<Bytes, StoreError> {
        check_range(meta, &range)?;
        let (this, key, meta) = (self.clone(), key.clone(), meta.clone());
        blocking(move || {
            let mut file = this.open_version(&key, &meta)?;
            let len = usize::try_from(range.end - range.start).map_err(io::Error::other)?;
            // read_to_end fills the spare capacity as it is, where a pread needs it zeroed first:
            // a frame read is then one pass over its bytes, not two.
            let mut buf = Vec::with_capacity(len);
            file.seek(SeekFrom::Start(range.start))?;
            io::Read::read_to_end(&mut io::Read::take(&mut file, len as u64), &mut buf)?;
            if buf.len() != len {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
            Ok(Bytes::from(buf))
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

    /// Written to a hidden file beside the key's, flushed to disk, then renamed over it: a
    /// reader sees the old object or the whole new one, and a failed body's file is removed.
    async fn put(&self, key: &ObjectKey, mut body: ByteStream) -> Result<u64, StoreError> {
        use futures_util::StreamExt;
        use tokio::io::AsyncWriteExt;
        let (this, target) = (self.clone(), key.clone());
        let (partial, file) = blocking(move || {
            let folder = this.folder_for(&target)?;
            // An object is a file like any other (0644 less the umask), not a temporary file's
            // 0600: NGINX or a `serve` running as another user reads it.
            let partial = tempfile::Builder::new().prefix(PARTIAL).permissions(std::fs::Permissions::from_mode(0o644)).tempfile_in(folder)?;
            let file = partial.as_file().try_clone()?;
            Ok((partial, file))
        })
        .await?;
        let mut file = tokio::fs::File::from_std(file);
        let copied: Result<u64, StoreError> = async {
            let mut written = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                file.write_all(&chunk).await?;
                written += chunk.len() as u64;
            }
            file.flush().await?;
            file.sync_data().await?;
            Ok(written)
        }
        .await;
        let path = self.path(key);
        // Removing a failed body's file is a blocking call too.
        blocking(move || match copied {
            Ok(written) => partial.persist(path).map(|_| written).map_err(|e| StoreError::Io(e.error)),
            Err(e) => {
                drop(partial);
                Err(e)
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;
    use std::time::{Duration, SystemTime};

    use super::*;

    async fn etag(store: &FsStore, name: &str) -> String {
        store.head(&ObjectKey::parse_plain(name).unwrap()).await.unwrap().etag
    }

    #[tokio::test]
    async fn etags_do_not_tell_file_times_yet_change_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.dcm");
        std::fs::write(&path, b"first").unwrap();
        let store = FsStore::new(dir.path()).unwrap();
        let first = etag(&store, "a.dcm").await;
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(first.len(), 32);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()), "{first}");
        let (ino, mtime, nsec) = (meta.ino(), meta.mtime(), meta.mtime_nsec());
        for leak in [ino.to_string(), format!("{ino:x}"), mtime.to_string(), format!("{mtime:x}"), format!("{nsec:08x}")] {
            assert!(!first.contains(&leak), "the ETag {first} holds {leak}, from the inode or modification time");
        }
        assert_eq!(etag(&store, "a.dcm").await, first, "stable while the file is unchanged");
        assert_eq!(etag(&FsStore::new(dir.path()).unwrap(), "a.dcm").await, first, "every store of the process agrees");

        // Rewritten in place, same length, a second later.
        std::fs::write(&path, b"secnd").unwrap();
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(SystemTime::now() + Duration::from_secs(1)).unwrap();
        let rewritten = etag(&store, "a.dcm").await;
        assert_ne!(rewritten, first);
        // Replaced by another file (another inode), same length and time.
        let other = dir.path().join("b.dcm");
        std::fs::write(&other, b"third").unwrap();
        std::fs::File::options().write(true).open(&other).unwrap().set_modified(std::fs::metadata(&path).unwrap().modified().unwrap()).unwrap();
        std::fs::rename(&other, &path).unwrap();
        let replaced = etag(&store, "a.dcm").await;
        assert_ne!(replaced, rewritten);

        let keyed = FsStore::new(dir.path()).unwrap().with_etag_key(b"one secret");
        assert_ne!(etag(&keyed, "a.dcm").await, replaced);
        assert_eq!(etag(&FsStore::new(dir.path()).unwrap().with_etag_key(b"one secret"), "a.dcm").await, etag(&keyed, "a.dcm").await);
    }
}
