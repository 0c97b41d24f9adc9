//! Group commit: callers hand their write to one worker, which commits every write that arrived
//! meanwhile in a single transaction, then answers each. Under load this turns N commits (each a
//! disk flush, and on PostgreSQL a lock hand-off) into one; with no load a write waits for
//! nothing. Writes are applied in the order they were handed over.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};
use wagate_core::store::StoreError;

/// A worker committing jobs `J`, answering each with `R`.
pub struct GroupCommit<J, R> {
    jobs: mpsc::Sender<(J, oneshot::Sender<R>)>,
}

impl<J, R> Clone for GroupCommit<J, R> {
    fn clone(&self) -> Self {
        Self {
            jobs: self.jobs.clone(),
        }
    }
}

/// The worker is gone (the server is shutting down).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the writer stopped")]
pub struct Stopped;

impl<J: Send + 'static, R: Send + 'static> GroupCommit<J, R> {
    /// Starts the worker. `commit` takes up to `max_batch` jobs, in order, and returns one
    /// answer per job, in the same order.
    pub fn start<F, Fut>(max_batch: usize, mut commit: F) -> Self
    where
        F: FnMut(Vec<J>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<R>> + Send,
    {
        let (jobs, mut rx) = mpsc::channel::<(J, oneshot::Sender<R>)>(4 * max_batch);
        tokio::spawn(async move {
            let mut arrived = Vec::with_capacity(max_batch);
            while rx.recv_many(&mut arrived, max_batch).await > 0 {
                let (batch, replies): (Vec<J>, Vec<_>) = arrived.drain(..).unzip();
                let answers = commit(batch).await;
                debug_assert_eq!(answers.len(), replies.len());
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(answer); // the caller may have gone; nothing to undo
                }
            }
        });
        Self { jobs }
    }

    /// Hands `job` over and waits for its answer (after its batch committed or failed).
    pub async fn submit(&self, job: J) -> Result<R, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send((job, reply)).await.map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    /// Hands all `jobs` over, in order, then waits for all their answers (they may be
    /// committed in more than one batch).
    pub async fn submit_all(&self, jobs: Vec<J>) -> Result<Vec<R>, Stopped> {
        let mut answers = Vec::with_capacity(jobs.len());
        for job in jobs {
            let (reply, answer) = oneshot::channel();
            self.jobs.send((job, reply)).await.map_err(|_| Stopped)?;
            answers.push(answer);
        }
        let mut out = Vec::with_capacity(answers.len());
        for answer in answers {
            out.push(answer.await.map_err(|_| Stopped)?);
        }
        Ok(out)
    }
}

/// The answers of a batch none of which was committed: each job gets the store's error (as
/// `Unavailable`: the error is not `Clone`, and every caller treats it as the database's fault).
pub fn all_failed<T, E: From<StoreError>>(jobs: usize, error: &StoreError) -> Vec<Result<T, E>> {
    let why = error.to_string();
    (0..jobs)
        .map(|_| Err(StoreError::Unavailable(why.clone()).into()))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Jobs that arrive while a batch commits share the next batch, in the order they came, and
    /// each caller gets its own answer.
    #[tokio::test]
    async fn waiting_jobs_share_a_batch_and_get_their_own_answers() {
        let batches: Arc<Mutex<Vec<Vec<u32>>>> = Arc::default();
        let seen = batches.clone();
        let writer = GroupCommit::start(64, move |jobs: Vec<u32>| {
            seen.lock().unwrap().push(jobs.clone());
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                jobs.into_iter().map(|j| j * 10).collect::<Vec<_>>()
            }
        });
        let first = tokio::spawn({
            let w = writer.clone();
            async move { w.submit(1).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        // Arrive while the first batch is committing.
        let rest = writer.submit_all(vec![2, 3, 4]).await.unwrap();
        assert_eq!(first.await.unwrap().unwrap(), 10);
        assert_eq!(rest, [20, 30, 40]);
        assert_eq!(*batches.lock().unwrap(), [vec![1], vec![2, 3, 4]]);
    }
}
