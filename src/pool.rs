//! CPU work (decode, render, encode) on blocking threads, bounded so overload sheds load.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// Why a job did not run to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("too many frames are being rendered")]
    Overloaded,
    #[error("rendering failed unexpectedly")]
    Panicked,
    #[error("this frame needs {needed_mb} MiB to render, more than the {budget_mb} MiB the server allows")]
    TooLarge { needed_mb: u64, budget_mb: u64 },
}

/// The memory budget is counted in KiB: a semaphore's permits are a `u32`.
const UNIT: u64 = 1024;

/// At most `workers` jobs run at once, and at most `queue` more wait; the next is refused. Jobs
/// that say what memory they need share a budget too: a decompression bomb (a small file that
/// decodes to gigabytes) is refused when it cannot fit, and waits for nothing it cannot get.
#[derive(Debug, Clone)]
pub struct RenderPool {
    workers: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    memory: Arc<Semaphore>,
    budget: u64,
}

impl RenderPool {
    /// A pool running `workers` jobs at once with up to `queue` waiting, whose jobs hold at
    /// most `memory_bytes` together.
    pub fn new(workers: usize, queue: usize, memory_bytes: u64) -> Self {
        let workers = workers.max(1);
        let units = usize::try_from((memory_bytes / UNIT).clamp(1, u64::from(u32::MAX))).unwrap_or(u32::MAX as usize);
        RenderPool {
            workers: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(Semaphore::new(workers + queue)),
            memory: Arc::new(Semaphore::new(units.min(Semaphore::MAX_PERMITS))),
            budget: memory_bytes,
        }
    }

    /// Runs `job` on a blocking thread once a worker is free, or refuses at once when the
    /// queue is full. A panicking job (a decoder bug on a hostile file) becomes an error.
    pub async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, PoolError> {
        let _admitted = self.admitted.clone().try_acquire_owned().map_err(|_| PoolError::Overloaded)?;
        let _worker = self.workers.clone().acquire_owned().await.map_err(|_| PoolError::Overloaded)?;
        tokio::task::spawn_blocking(job).await.map_err(|_| PoolError::Panicked)
    }

    /// [`run`](Self::run) for a job that holds up to `bytes` while it runs. More than the whole
    /// budget is refused for good; more than what is free now is refused as an overload, so
    /// that a large job never holds up the small ones queued behind it.
    pub async fn run_sized<T: Send + 'static>(&self, bytes: u64, job: impl FnOnce() -> T + Send + 'static) -> Result<T, PoolError> {
        let _memory = self.hold(bytes)?;
        self.run(job).await
    }

    /// Takes `bytes` of the memory budget until the [`Held`] is dropped: for what an answer holds
    /// in memory while it is sent (frames read or decoded for WADO-RS), so that answers and
    /// renders together stay within one budget. Refused at once, as [`run_sized`](Self::run_sized)
    /// refuses, when it cannot fit.
    pub fn hold(&self, bytes: u64) -> Result<Held, PoolError> {
        if bytes > self.budget {
            return Err(PoolError::TooLarge { needed_mb: bytes.div_ceil(1 << 20), budget_mb: self.budget >> 20 });
        }
        let units = u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX);
        let permit = self.memory.clone().try_acquire_many_owned(units).map_err(|_| PoolError::Overloaded)?;
        Ok(Held { _permit: permit })
    }
}

/// Part of the memory budget, given back when dropped.
#[derive(Debug)]
pub struct Held {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_past_the_queue_and_survives_panics() {
        let pool = RenderPool::new(1, 1, 1 << 20);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let busy = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(move || rx.recv().ok()).await }
        });
        tokio::task::yield_now().await;
        while pool.workers.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(|| 2).await }
        });
        while pool.admitted.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.run(|| 3).await, Err(PoolError::Overloaded));
        tx.send(()).unwrap();
        assert_eq!(busy.await.unwrap(), Ok(Some(())));
        assert_eq!(waiting.await.unwrap(), Ok(2));
        assert_eq!(pool.run(|| panic!("decoder bug")).await, Err::<(), _>(PoolError::Panicked));
        assert_eq!(pool.run(|| 4).await, Ok(4));
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_budget_refuses_what_cannot_fit_and_frees_what_was_held() {
        let pool = RenderPool::new(2, 4, 10 << 20);
        assert_eq!(pool.run_sized(11 << 20, || ()).await, Err(PoolError::TooLarge { needed_mb: 11, budget_mb: 10 }));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let big = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run_sized(8 << 20, move || rx.recv().ok()).await }
        });
        while pool.memory.available_permits() > (2 << 20) / UNIT as usize {
            tokio::task::yield_now().await;
        }
        // The bomb holds 8 of 10 MiB: another is refused now, a small job still runs.
        assert_eq!(pool.run_sized(4 << 20, || ()).await, Err(PoolError::Overloaded));
        assert_eq!(pool.run_sized(1 << 20, || 5).await, Ok(5));
        tx.send(()).unwrap();
        assert_eq!(big.await.unwrap(), Ok(Some(())));
        assert_eq!(pool.run_sized(10 << 20, || 6).await, Ok(6));
    }
}
