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
}

/// At most `workers` jobs run at once, and at most `queue` more wait; the next is refused.
#[derive(Debug, Clone)]
pub struct RenderPool {
    workers: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
}

impl RenderPool {
    /// A pool running `workers` jobs at once with up to `queue` waiting.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        RenderPool { workers: Arc::new(Semaphore::new(workers)), admitted: Arc::new(Semaphore::new(workers + queue)) }
    }

    /// Runs `job` on a blocking thread once a worker is free, or refuses at once when the
    /// queue is full. A panicking job (a decoder bug on a hostile file) becomes an error.
    pub async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, PoolError> {
        let _admitted = self.admitted.clone().try_acquire_owned().map_err(|_| PoolError::Overloaded)?;
        let _worker = self.workers.clone().acquire_owned().await.map_err(|_| PoolError::Overloaded)?;
        tokio::task::spawn_blocking(job).await.map_err(|_| PoolError::Panicked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_past_the_queue_and_survives_panics() {
        let pool = RenderPool::new(1, 1);
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
