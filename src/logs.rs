//! Where log lines go: a memory buffer that one thread writes out in batches.
//!
//! A request appends its line under a short lock and goes on: it never makes a system call,
//! never waits for a slow terminal or pipe, and never wakes a thread. tracing-appender's
//! writer, used before, woke its thread for every line; under load on two cores that thread
//! took 15% of the CPU of cached frames. Here the writer thread wakes on a timer, writes what
//! gathered, and sleeps again. When the output stalls and the buffer is full, lines are dropped
//! and counted, and the count is written once the output moves again.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long a line may wait in memory before it is written.
const INTERVAL: Duration = Duration::from_millis(25);

struct Shared {
    /// Lines not yet written, and whether the writer has been told to finish.
    pending: Mutex<(Vec<u8>, bool)>,
    /// Wakes the writer thread early: to finish.
    wake: Condvar,
    /// Most bytes held while the output is slower than the lines.
    capacity: usize,
    /// Lines dropped since the last report.
    dropped: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, (Vec<u8>, bool)> {
        // A panic while appending leaves at worst a partial line: keep logging.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The `MakeWriter` the subscriber formats into.
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Shared>,
}

/// Stops the writer thread after a last write of everything pending; drop it last.
pub struct Guard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A writer that gathers lines for `out`, holding at most `capacity` bytes, and the guard that
/// flushes it.
pub fn batched(out: impl Write + Send + 'static, capacity: usize) -> io::Result<(BatchWriter, Guard)> {
    let shared = Arc::new(Shared { pending: Mutex::new((Vec::new(), false)), wake: Condvar::new(), capacity, dropped: AtomicU64::new(0) });
    let worker = shared.clone();
    let thread = std::thread::Builder::new().name("framegate-logs".into()).spawn(move || write_out(&worker, out))?;
    Ok((BatchWriter { shared: shared.clone() }, Guard { shared, thread: Some(thread) }))
}

fn write_out(shared: &Shared, mut out: impl Write) {
    let mut batch = Vec::new();
    loop {
        let finished = {
            let mut pending = shared.lock();
            if !pending.1 {
                pending = shared.wake.wait_timeout(pending, INTERVAL).unwrap_or_else(PoisonError::into_inner).0;
            }
            // Swapping keeps both buffers' capacity: no allocation once warm.
            std::mem::swap(&mut pending.0, &mut batch);
            pending.1
        };
        let dropped = shared.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let _ = writeln!(out, "framegate: {dropped} log lines dropped: the log output was too slow");
        }
        // A failing output cannot be reported anywhere else; the lines are lost either way.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        batch.clear();
        if finished {
            return;
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.lock().1 = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One line's writer: everything the subscriber writes for one event goes in at once.
pub struct Line<'a> {
    shared: &'a Shared,
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line { shared: &self.shared }
    }
}

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut pending = self.shared.lock();
        if pending.0.len() + bytes.len() > self.shared.capacity {
            drop(pending);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            pending.0.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output that records what reached it, and can be held shut.
    #[derive(Clone, Default)]
    struct Recorder {
        written: Arc<Mutex<Vec<u8>>>,
        gate: Arc<Mutex<()>>,
        entered: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Write for Recorder {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.entered.store(true, Ordering::SeqCst);
            let _open = self.gate.lock().unwrap();
            self.written.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_reach_the_output_in_order_and_the_guard_writes_the_last_ones() {
        let out = Recorder::default();
        let (writer, guard) = batched(out.clone(), 1 << 20).unwrap();
        for i in 0..1000 {
            writer.make_writer().write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        drop(guard);
        let text = String::from_utf8(out.written.lock().unwrap().clone()).unwrap();
        let expected: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(text, expected);
    }

    #[test]
    fn a_stalled_output_costs_lines_not_memory_or_requests() {
        let out = Recorder::default();
        let held = out.gate.lock().unwrap();
        let (writer, guard) = batched(out.clone(), 100).unwrap();
        // The writer thread takes the first batch and blocks in the stalled output; every
        // later line must return at once whether or not it fits.
        writer.make_writer().write_all(b"first\n").unwrap();
        while !out.entered.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        for i in 0..50 {
            // As the subscriber does: a line formatted first, then written at once.
            writer.make_writer().write_all(format!("line {i:02}\n").as_bytes()).unwrap();
        }
        drop(held);
        drop(guard);
        let text = String::from_utf8(out.written.lock().unwrap().clone()).unwrap();
        assert!(text.starts_with("first\n"), "{text}");
        assert!(text.contains("framegate: 38 log lines dropped: the log output was too slow\n"), "{text}");
        assert!(text.ends_with("line 11\n"), "100 bytes hold 12 lines of 8: {text}");
    }
}
