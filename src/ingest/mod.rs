//! Ingest: studies in, de-identified objects out, so that no patient data is ever stored.
//!
//! Sources (DICOM files, folders, ZIP archives such as hospital CD exports, JPEG and PNG
//! images, S3 prefixes) are read as streams, one entry after another, on a blocking thread;
//! what reaches the destination store is:
//! - each DICOM object with the header the raw route would serve (the same Basic Profile
//!   engine, with the PS3.15 options asked for) and its Pixel Data copied through unchanged,
//!   JPEG, JPEG-LS and JPEG 2000 frames with their comments and application segments blanked, under
//!   `{prefix}/{study}/{series}/{instance}.dcm` named by the pseudonymous UIDs;
//! - each image with its metadata removed and its pixels untouched, under
//!   `{prefix}/{stack}/{position}.{jpg|png}`, the stack named by a keyed hash of its folder;
//! - nothing else: other files are listed in the [`Manifest`] with the reason.
//!
//! The modules, in the order an entry meets them:
//! - [`source`]: the entries of each source, in a stable order, and which shard takes which;
//! - [`archive`]: the entries of a ZIP archive, with hostile ones refused;
//! - [`instance`]: one DICOM object, its header de-identified and its Pixel Data streamed;
//! - [`picture`]: one JPEG or PNG image without its metadata;
//! - [`write`]: objects to the store, several at once, skipping those already there and never
//!   writing over another object;
//! - [`manifest`]: what was done, with no patient data in it.

mod archive;
mod instance;
mod manifest;
mod picture;
mod source;
mod write;

use std::io::{self, Read, Seek};
use std::sync::Arc;

use tokio::runtime::Handle;

pub use manifest::{Manifest, Note, Place};
pub use source::{Shard, Source};

use crate::deid::{self, Pseudonyms};
use crate::sniff::{self, FileKind};
use crate::key::ObjectKey;
use crate::store::Store;
use manifest::{Builder, Instance, Kind, Refusal};
use write::{Out, Stored, Writer};

/// What to do with images whose pixels may show text that identifies the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BurnedIn {
    /// Leave them out and list them (the default): the Basic Profile cleans headers, not
    /// pixels, so only a person who has looked at them should let them in.
    #[default]
    Refuse,
    /// Store them, and list them in the manifest.
    Keep,
}

/// Bounds on what one source may make ingest read or hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest DICOM header read to find Pixel Data.
    pub max_header_bytes: u64,
    /// Largest JPEG or PNG image, read whole to remove its metadata.
    pub max_image_bytes: u64,
    /// Largest compressed frame of a JPEG or JPEG-LS object, held whole to blank its metadata:
    /// the same bound the server reads a frame by.
    pub max_frame_bytes: u64,
    /// Largest ratio of an archive entry's size to the bytes it really occupies in the archive,
    /// from its local header to the next (ZIP bombs).
    pub max_ratio: u64,
    /// Largest total that the entries of one archive may unpack to.
    pub max_unpacked_bytes: u64,
    /// Most entries in one archive: the ZIP parser holds every directory record in memory.
    pub max_archive_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 16 << 20,
            max_image_bytes: 64 << 20,
            max_frame_bytes: crate::dicom::Limits::default().max_frame_bytes,
            max_ratio: 200,
            max_unpacked_bytes: 64 << 30,
            max_archive_entries: 100_000,
        }
    }
}

/// How an ingest runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// PS3.15 options on top of the Basic Profile.
    pub deid: deid::Options,
    /// Images with burned-in annotation.
    pub burned_in: BurnedIn,
    /// Objects written at once.
    pub jobs: usize,
    /// Which part of the sources this process takes.
    pub shard: Shard,
    /// Input bounds.
    pub limits: Limits,
    /// How Pixel Data is stored.
    pub transcode: Transcode,
}

impl Default for Options {
    fn default() -> Self {
        Options { deid: deid::Options::default(), burned_in: BurnedIn::default(), jobs: 8, shard: Shard::default(), limits: Limits::default(), transcode: Transcode::default() }
    }
}

/// How ingest stores Pixel Data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Transcode {
    /// As the source holds it (the default).
    #[default]
    None,
    /// Grey native frames as lossless HTJ2K in RPCL order (1.2.840.10008.1.2.4.202): smaller
    /// objects, which HTJ2K clients read progressively straight from storage. Compressed and
    /// colour sources are stored as they are: a lossy frame would only grow.
    Htj2k,
}

/// Where the objects go.
#[derive(Clone)]
pub struct Destination {
    /// The store written to.
    pub store: Arc<dyn Store>,
    /// Key segments every object is put under (may be empty).
    pub prefix: Vec<String>,
    /// How the manifest names the destination.
    pub label: String,
}

/// Told of progress, for a progress bar, and asked whether to go on; every call is cheap and
/// may come from any thread.
pub trait Progress: Send + Sync {
    /// Entries found in the sources (archives add theirs when opened).
    fn found(&self, _entries: u64) {}
    /// An entry is done; `bytes` were read from it.
    fn done(&self, _bytes: u64) {}
    /// Whether whoever asked has gone (an upload's client hung up): no further entry is begun,
    /// and objects already begun are finished, since each is whole or absent anyway.
    fn cancelled(&self) -> bool {
        false
    }
}

/// A [`Progress`] that shows nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// Why ingest could not run at all (a single entry's failure is in the manifest instead).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read source {0}: {1}")]
    Source(usize, #[source] io::Error),
    /// The ingest thread panicked or was cancelled; a panic's own message is not kept, since
    /// it could quote what was being read.
    #[error("ingest stopped: {0}")]
    Stopped(&'static str),
}

/// Ingests `sources` into `destination` and answers what was done. Runs on a blocking thread;
/// the store calls go to the runtime it was called from.
pub async fn run(sources: Vec<Source>, destination: Destination, pseudonyms: Pseudonyms, options: Options, progress: Arc<dyn Progress>) -> Result<Manifest, IngestError> {
    let handle = Handle::current();
    tokio::task::spawn_blocking(move || {
        let job = Job::new(handle, destination, pseudonyms, options, progress);
        job.sources(sources)
    })
    .await
    .map_err(|e| IngestError::Stopped(stopped(&e)))?
}

/// How a task ended that did not return: in fixed words.
pub(crate) fn stopped(e: &tokio::task::JoinError) -> &'static str {
    if e.is_panic() { "it panicked" } else { "it was cancelled" }
}

/// One ingest: its settings, its writer and what it has done so far.
struct Job {
    handle: Handle,
    destination: Destination,
    pseudonyms: Pseudonyms,
    options: Options,
    progress: Arc<dyn Progress>,
    writer: Writer,
    manifest: Arc<Builder>,
    /// Keys written by this run: a second file holding the same instance is not copied twice.
    seen: std::sync::Mutex<std::collections::HashSet<ObjectKey>>,
    /// Study folders this run wrote to (or found unchanged): each gets its catalog at the end.
    studies: std::sync::Mutex<std::collections::HashSet<ObjectKey>>,
}

/// Reads up to `n` bytes, fewer only at the end of the stream.
fn read_up_to(reader: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    reader.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// A source that can be read anywhere: what a ZIP archive needs.
pub(crate) trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

impl Job {
    fn new(handle: Handle, destination: Destination, pseudonyms: Pseudonyms, options: Options, progress: Arc<dyn Progress>) -> Self {
        let manifest = Arc::new(Builder::new(destination.label.clone(), &options));
        let writer = Writer::new(handle.clone(), destination.store.clone(), options.jobs.max(1), manifest.clone());
        Job { handle, destination, pseudonyms, options, progress, writer, manifest, seen: Default::default(), studies: Default::default() }
    }

    fn sources(self, sources: Vec<Source>) -> Result<Manifest, IngestError> {
        // Every source is listed before anything is written: a mistyped path stops the run
        // before it has done half of its work.
        let mut listed = Vec::with_capacity(sources.len());
        for (n, source) in sources.iter().enumerate() {
            listed.push(source.entries(n, &self.handle).map_err(|e| IngestError::Source(n, e))?);
        }
        self.progress.found(listed.iter().map(|entries| entries.len() as u64).sum());
        for entry in listed.iter().flatten() {
            if self.progress.cancelled() {
                break;
            }
            self.entry(entry);
        }
        self.writer.wait();
        self.catalogs();
        Ok(self.manifest.finish())
    }

    /// Writes the catalog of every study folder this run touched, now that each of its objects is
    /// whole. A catalog that cannot be written is only a slower first open: it is logged, and
    /// `framegate catalog` can write it later.
    fn catalogs(&self) {
        let studies = std::mem::take(&mut *self.studies.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        if studies.is_empty() {
            return;
        }
        let limits = crate::dicom::Limits { max_header_bytes: self.options.limits.max_header_bytes, max_frame_bytes: self.options.limits.max_frame_bytes, ..Default::default() };
        // Deflated objects, which would need inflating, are left out of a catalog anyway.
        let pool = crate::pool::RenderPool::new(1, 64, 1 << 30);
        let store = self.destination.store.clone();
        for study in studies {
            if let Err(e) = self.handle.block_on(crate::catalog::write(store.as_ref(), &study, &limits, &pool)) {
                tracing::warn!(error = %e, "study catalog not written");
            }
        }
    }

    /// One entry of a source: a file or object, which may be an archive of more.
    fn entry(&self, entry: &source::Entry) {
        let place = &entry.place;
        // Refusals are the taking shard's alone, so the shards' manifests add up.
        let mine = self.options.shard.takes(place);
        if let Some(reason) = &entry.refused {
            if mine {
                self.manifest.refuse(place, Kind::Other, entry.size, Refusal::Skip(reason.clone()));
            }
            self.progress.done(0);
            return;
        }
        let opened = entry.open(&self.handle).and_then(|mut reader| {
            let head = read_up_to(&mut reader, sniff::BYTES)?;
            reader.rewind()?;
            Ok((reader, sniff::sniff(&head)))
        });
        match opened {
            Err(e) => {
                if mine {
                    self.manifest.refuse(place, Kind::Other, entry.size, Refusal::Fail(format!("cannot read: {}", io_reason(&e))));
                }
                self.progress.done(0);
            }
            // Every shard opens an archive and takes its own share of the entries.
            Ok((reader, FileKind::Zip)) => {
                archive::each(self, place, reader);
                self.progress.done(0);
            }
            Ok((mut reader, kind)) => {
                if mine {
                    self.object(place, &mut reader, entry.size, kind);
                }
                self.progress.done(entry.size);
            }
        }
    }

    /// One file that is not an archive: an entry of a source, or of a ZIP archive.
    fn object(&self, place: &Place, reader: &mut dyn Read, size: u64, kind: FileKind) {
        match kind {
            FileKind::Dicom => instance::ingest(self, place, reader, size),
            FileKind::Jpeg | FileKind::Png => picture::ingest(self, place, reader, size, kind == FileKind::Png),
            FileKind::Zip => self.manifest.refuse(place, Kind::Zip, size, Refusal::Skip("an archive inside an archive is not opened".into())),
            FileKind::Other => self.manifest.refuse(place, Kind::Other, size, Refusal::Skip(other_reason(place))),
        }
    }

    /// Writes `object`: its head, then what `rest` writes after it. Not when this run has
    /// taken its key already (the manifest says `object.duplicate`), nor when the key already
    /// holds it (`unchanged`) or another object (the manifest says `object.conflict`: an ingest
    /// or upload never replaces what is stored); a key whose source broke off midway is given
    /// back, so a later good copy of the same object still goes in.
    fn write(&self, object: Object<'_>, rest: impl FnOnce(&mut Out) -> io::Result<()>) {
        let Object { key, place, kind, source_bytes, instance, head, size, duplicate, conflict } = object;
        let seen = || self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // An instance sits at study/series/sop.dcm under the destination.
        if instance.is_some()
            && key.depth() > 2
            && let Ok(study) = ObjectKey::from_segments(key.segments()[..key.depth() - 2].to_vec())
        {
            self.studies.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(study);
        }
        if !seen().insert(key.clone()) {
            return self.manifest.refuse(place, kind, source_bytes, Refusal::Skip(duplicate.into()));
        }
        match self.writer.stored(&key, head, size) {
            Stored::Nothing => {}
            Stored::Same => return self.manifest.unchanged(source_bytes, &key, instance),
            Stored::Other => {
                seen().remove(&key);
                return self.manifest.refuse(place, kind, source_bytes, Refusal::Skip(conflict.into()));
            }
            Stored::Unknown(why) => {
                seen().remove(&key);
                return self.manifest.refuse(place, kind, source_bytes, Refusal::Fail(why));
            }
        }
        let mut out = self.writer.begin(key.clone(), place.clone(), kind, source_bytes, instance);
        match io::Write::write_all(&mut out, head).and_then(|()| rest(&mut out)) {
            Ok(()) => out.finish(),
            Err(e) => {
                out.fail(io_reason(&e));
                seen().remove(&key);
            }
        }
    }

    /// The key `segments` under the destination's prefix.
    fn key(&self, segments: impl IntoIterator<Item = String>) -> Result<ObjectKey, String> {
        ObjectKey::from_segments(self.destination.prefix.iter().cloned().chain(segments).collect()).map_err(|e| format!("cannot name the object: {e}"))
    }
}

/// One object for [`Job::write`], as the reader has it.
struct Object<'a> {
    key: ObjectKey,
    place: &'a Place,
    kind: Kind,
    /// Bytes of the source file it comes from.
    source_bytes: u64,
    /// The series it is an instance of; `None` for an image of a stack.
    instance: Option<Instance>,
    /// How it begins, compared with what its key may already hold: the de-identified header, or
    /// a whole image.
    head: &'a [u8],
    /// Its whole length, when known before it is written.
    size: Option<u64>,
    /// Why a second object at the same key in one run is not copied.
    duplicate: &'static str,
    /// Why an object is not written over another one its key already holds.
    conflict: &'static str,
}

/// Why a file that is neither DICOM, an image nor an archive is left out, told by its extension
/// alone (its name is not repeated).
fn other_reason(place: &Place) -> String {
    match place.extension.as_deref() {
        Some("pdf") => "a PDF document: not an image, not copied".into(),
        Some("txt" | "htm" | "html" | "xml" | "inf" | "ini") => "a text file: not an image, not copied".into(),
        Some("exe" | "dll" | "jar" | "bat" | "cmd" | "js") => "a program (CD viewer software): not copied".into(),
        _ => "not DICOM, JPEG, PNG or ZIP: not copied".into(),
    }
}

/// A failure ingest itself describes, carried through `io::Error`s so that [`io_reason`] can
/// tell its words from anyone else's.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct OwnWords(pub std::borrow::Cow<'static, str>);

impl OwnWords {
    fn io(words: impl Into<std::borrow::Cow<'static, str>>, kind: io::ErrorKind) -> io::Error {
        io::Error::new(kind, OwnWords(words.into()))
    }
}

/// An I/O error as a manifest reason. Only ingest's own words and the DICOM parser's (which
/// name a rule, never a value) are passed on; anything else is told by its kind, since an error
/// from a store, an archive or a decompressor can quote a key or an entry's name.
fn io_reason(e: &io::Error) -> String {
    if let Some(inner) = e.get_ref() {
        if let Some(own) = inner.downcast_ref::<OwnWords>() {
            return own.0.clone().into_owned();
        }
        if let Some(dicom) = inner.downcast_ref::<crate::dicom::DicomError>() {
            return dicom.to_string();
        }
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof => "the file ends early (truncated)".into(),
        io::ErrorKind::InvalidData => "malformed data".into(),
        io::ErrorKind::Other => "read failed".into(),
        kind => format!("read failed ({kind})"),
    }
}
