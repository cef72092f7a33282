//! Objects to the store from the blocking thread that reads the sources: each object's bytes go
//! through a small channel to a `put` running on the runtime, so a small object is handed over
//! at once and the reader moves on while it uploads, and a large one streams at the store's
//! pace. At most `jobs` objects are in flight.

use std::io;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::runtime::Handle;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::manifest::{Builder, Instance, Kind};
use super::Place;
use crate::key::ObjectKey;
use crate::store::{ByteStream, Store, StoreError};

/// Bytes per message from the reader to the upload.
const CHUNK: usize = 1 << 20;
/// Messages waiting per upload: a small object fits whole, a large one waits for the store.
const QUEUE: usize = 8;

/// Writes objects, several at once, and records each outcome in the manifest.
pub(super) struct Writer {
    handle: Handle,
    store: Arc<dyn Store>,
    slots: Arc<Semaphore>,
    /// Uploads not yet reaped: finished ones are dropped as new ones start, so a run of a
    /// million objects does not keep a million finished tasks.
    tasks: Mutex<JoinSet<()>>,
    manifest: Arc<Builder>,
}

impl Writer {
    pub fn new(handle: Handle, store: Arc<dyn Store>, jobs: usize, manifest: Arc<Builder>) -> Self {
        Writer { handle, store, slots: Arc::new(Semaphore::new(jobs)), tasks: Mutex::new(JoinSet::new()), manifest }
    }

    /// What `key` already holds, against an object that begins with `header` (and is `size`
    /// bytes, when known); an image passes itself whole, with its size. A SOP Instance UID names
    /// one instance's content (PS3.3 C.12.1.1.1), so the same de-identified header means the same
    /// object: a re-run or a resumed run reads the header back instead of uploading it again.
    pub fn stored(&self, key: &ObjectKey, header: &[u8], size: Option<u64>) -> Stored {
        let check = async {
            let meta = match self.store.head(key).await {
                Ok(meta) => meta,
                Err(StoreError::NotFound) => return Stored::Nothing,
                Err(e) => return Stored::Unknown(reason(&e)),
            };
            if meta.size < header.len() as u64 || size.is_some_and(|s| s != meta.size) {
                return Stored::Other;
            }
            match self.store.read(key, &meta, 0..header.len() as u64).await {
                Ok(stored) if stored == header => Stored::Same,
                Ok(_) => Stored::Other,
                Err(e) => Stored::Unknown(reason(&e)),
            }
        };
        self.handle.block_on(check)
    }

    /// Starts writing `key`, once a slot is free; the object of `kind` and `size` source bytes
    /// at `place` is recorded as `instance` (or as an image) when its upload ends.
    pub fn begin(&self, key: ObjectKey, place: Place, kind: Kind, size: u64, instance: Option<Instance>) -> Out {
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(QUEUE);
        let slot = self.handle.block_on(self.slots.clone().acquire_owned());
        let (store, manifest) = (self.store.clone(), self.manifest.clone());
        let body: ByteStream = Box::pin(futures_util::stream::unfold(rx, |mut rx| async { rx.recv().await.map(|item| (item, rx)) }));
        let mut tasks = self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while tasks.try_join_next().is_some() {}
        tasks.spawn_on(
            async move {
                let result = store.put(&key, body).await;
                drop(slot);
                manifest.written(&place, kind, size, &key, instance, result.map_err(|e| reason(&e)));
            },
            &self.handle,
        );
        Out { tx, buffer: BytesMut::with_capacity(CHUNK), ended: false }
    }

    /// Waits for every upload to end.
    pub fn wait(&self) {
        let mut tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        self.handle.block_on(async { while tasks.join_next().await.is_some() {} });
    }
}

impl Drop for Writer {
    /// A writer dropped without [`Writer::wait`] (its thread panicked) lets its uploads run to
    /// their end, where an unfinished body fails and a multipart upload is aborted, rather than
    /// cutting them off midway.
    fn drop(&mut self) {
        self.tasks.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()).detach_all();
    }
}

/// What a key holds before an object is written to it.
pub(super) enum Stored {
    /// Nothing: the object is written.
    Nothing,
    /// The same object: nothing to do.
    Same,
    /// Another object under the same UIDs (or at the same place in a stack): never replaced
    /// silently, since the one there may be what a viewer already relies on.
    Other,
    /// The store could not say, for this reason.
    Unknown(String),
}

/// Why a write failed, in words that quote nothing from the source: the reader's own failure,
/// sent down the body, in [`super::io_reason`]'s words; a store's, naming at most the
/// destination's pseudonymous key.
fn reason(e: &StoreError) -> String {
    match e {
        StoreError::Io(io) => super::io_reason(io),
        other => format!("cannot write: {other}"),
    }
}

/// One object being written: `Write` it, then [`Out::finish`] or [`Out::fail`]. Dropped
/// without either (an early return, a panic), it fails: a body that merely stopped would look
/// whole to the store.
pub(super) struct Out {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buffer: BytesMut,
    ended: bool,
}

impl Out {
    fn send(&mut self, item: io::Result<Bytes>) -> io::Result<()> {
        self.tx.blocking_send(item).map_err(|_| super::OwnWords::io("the write stopped", io::ErrorKind::Other))
    }

    /// The object is whole: the store may show it.
    pub fn finish(mut self) {
        let rest = self.buffer.split().freeze();
        if rest.is_empty() || self.send(Ok(rest)).is_ok() {
            self.ended = true;
        }
    }

    /// The source failed: the store drops what it has, and the manifest says `why`.
    pub fn fail(mut self, why: String) {
        self.ended = true;
        let _ = self.send(Err(super::OwnWords::io(why, io::ErrorKind::Other)));
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        if !self.ended {
            let _ = self.send(Err(super::OwnWords::io("the object was left unfinished", io::ErrorKind::Other)));
        }
    }
}

impl io::Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= CHUNK {
            let chunk = self.buffer.split().freeze();
            self.send(Ok(chunk))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::store::fs::FsStore;

    fn place() -> Place {
        Place { source: 0, item: 0, entry: None, extension: None, folder: String::new(), position: 1, shard: 0 }
    }

    /// An object whose source stops midway (an early return, a panic) must not look whole.
    #[test]
    fn an_object_left_unfinished_or_failed_is_never_stored() {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(FsStore::new(dir.path()).unwrap());
        let manifest = Arc::new(Builder::new("test".into(), &super::super::Options::default()));
        let writer = Writer::new(runtime.handle().clone(), store, 2, manifest.clone());
        let key = |name: &str| ObjectKey::parse_plain(&format!("s/{name}")).unwrap();
        let mut dropped = writer.begin(key("dropped.jpg"), place(), Kind::Jpeg, 10, None);
        dropped.write_all(&[7; 3 << 20]).unwrap();
        drop(dropped);
        let mut failed = writer.begin(key("failed.jpg"), place(), Kind::Jpeg, 10, None);
        failed.write_all(&[7; 100]).unwrap();
        failed.fail("the source ends early (truncated)".into());
        let mut whole = writer.begin(key("whole.jpg"), place(), Kind::Jpeg, 10, None);
        whole.write_all(&[7; 100]).unwrap();
        whole.finish();
        writer.wait();
        let stored: Vec<String> = walk(dir.path());
        assert_eq!(stored, ["whole.jpg"], "only the finished object, and no partial file");
        let done = manifest.finish();
        let mut reasons: Vec<&str> = done.failed.iter().map(|n| n.reason.as_str()).collect();
        reasons.sort_unstable();
        assert_eq!(reasons, ["the object was left unfinished", "the source ends early (truncated)"]);
        assert_eq!(done.totals.written, 1);
    }

    fn walk(dir: &std::path::Path) -> Vec<String> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            if entry.path().is_dir() {
                out.extend(walk(&entry.path()));
            } else {
                out.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        out
    }
}
