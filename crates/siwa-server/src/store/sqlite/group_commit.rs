//! Group commit: one writer task makes every write of the store, and commits
//! whatever has gathered in its queue in one transaction.
//!
//! With `synchronous=FULL` every commit waits for an fsync (milliseconds on
//! most disks), and SQLite has one writer at a time, so one commit per
//! request caps the writes at the disk's fsyncs per second and makes 32
//! concurrent writers queue on the lock. Here, while one batch commits, the
//! next requests wait in the queue; they are then written together and made
//! durable by a single fsync. Nothing is answered before its commit is on
//! disk, so durability is unchanged.
//!
//! Each request runs inside its own savepoint: a request that fails (or
//! decides to write nothing) is rolled back to it, and the others of its
//! batch commit. Requests run in the order they were queued, so two requests
//! on the same session family see each other's writes in order. When the
//! transaction itself is lost (SQLite rolls it back on a full disk or an I/O
//! error) or the commit fails, every request whose write was in it gets the
//! error; requests of the batch that had not run yet are kept for the next.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::FutureExt as _;
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::super::{StoreError, StoreResult};

/// The write transaction a request's statements run in.
pub(super) type Tx = Transaction<'static, Sqlite>;

/// A boxed future borrowing the transaction.
pub(super) type TxFuture<'t, T> = Pin<Box<dyn Future<Output = T> + Send + 't>>;

/// What a request's statements decided.
pub(super) enum Write<T> {
    /// Keep the writes; answer `T` once they are on disk.
    Commit(T),
    /// Roll the request's writes back (it found nothing to do, or refused);
    /// answer `T` at once.
    Discard(T),
}

/// Requests written together at most (bounds a batch's time and memory).
const MAX_BATCH: usize = 256;
/// Requests waiting at most; beyond it, callers wait to queue (backpressure).
const QUEUE: usize = 4096;

/// The name of each request's savepoint (sqlx's own are `_sqlx_savepoint_N`).
const SAVEPOINT: &str = "SAVEPOINT siwa_request";
const RELEASE: &str = "RELEASE siwa_request";
const ROLLBACK_TO: &str = "ROLLBACK TO siwa_request";

/// How a request is answered once its batch's fate is known: `Ok` when the
/// batch committed, the commit's error otherwise.
type Answer = Box<dyn FnOnce(Result<(), Arc<sqlx::Error>>) + Send>;

/// What a request's statements came to.
struct Ran {
    /// Whether its writes are kept (released) or rolled back to its savepoint.
    keep: bool,
    /// How to answer after the commit; `None` when it was answered already
    /// (a failed request waits for nothing).
    answer: Option<Answer>,
}

/// A queued request.
trait Request: Send {
    fn run<'t>(self: Box<Self>, tx: &'t mut Tx) -> TxFuture<'t, Ran>;
    /// Answers a request that could not run (the transaction could not begin).
    fn refuse(self: Box<Self>, error: Arc<sqlx::Error>);
}

type Job = Box<dyn Request>;

/// A request and where its answer goes.
struct Pending<T, F> {
    statements: F,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Request for Pending<T, F>
where
    T: Send + 'static,
    F: for<'t> FnOnce(&'t mut Tx) -> TxFuture<'t, StoreResult<Write<T>>> + Send + 'static,
{
    fn run<'t>(self: Box<Self>, tx: &'t mut Tx) -> TxFuture<'t, Ran> {
        let Pending { statements, reply } = *self;
        Box::pin(async move {
            // A panic in one request must not take the writer down.
            let outcome = AssertUnwindSafe(statements(tx)).catch_unwind().await;
            let (keep, value) = match outcome {
                Ok(Ok(Write::Commit(value))) => (true, value),
                Ok(Ok(Write::Discard(value))) => (false, value),
                Ok(Err(e)) => {
                    let _ = reply.send(Err(e));
                    return Ran {
                        keep: false,
                        answer: None,
                    };
                }
                Err(_) => {
                    tracing::error!("a database write panicked; it was rolled back");
                    let _ = reply.send(Err(StoreError::WriterFailed));
                    return Ran {
                        keep: false,
                        answer: None,
                    };
                }
            };
            let answer: Answer = Box::new(move |committed| {
                // The caller may have given up (its deadline): nothing to do.
                let _ = reply.send(committed.map(|()| value).map_err(StoreError::Batch));
            });
            Ran {
                keep,
                answer: Some(answer),
            }
        })
    }

    fn refuse(self: Box<Self>, error: Arc<sqlx::Error>) {
        let _ = self.reply.send(Err(StoreError::Batch(error)));
    }
}

/// Commits and requests written so far, for `fsyncs per request`.
#[derive(Debug, Default)]
pub struct GroupCommitStats {
    commits: AtomicU64,
    requests: AtomicU64,
}

impl GroupCommitStats {
    /// Transactions committed by the writer (each one fsync of the WAL).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Requests whose writes were committed.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// The handle requests write through; the writer task stops when the last
/// handle is dropped.
#[derive(Clone, Debug)]
pub(super) struct Writer {
    queue: mpsc::Sender<Job>,
    stats: Arc<GroupCommitStats>,
}

impl Writer {
    /// Starts the writer task on the current runtime. `batch` is the most
    /// requests a transaction takes (1: a commit per request, as without
    /// group commit).
    pub(super) fn start(pool: SqlitePool, batch: usize) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let stats = Arc::new(GroupCommitStats::default());
        let task = WriterTask {
            pool,
            jobs,
            carried: VecDeque::new(),
            batch: batch.clamp(1, MAX_BATCH),
            stats: Arc::clone(&stats),
        };
        tokio::spawn(task.run());
        Self { queue, stats }
    }

    pub(super) fn stats(&self) -> &Arc<GroupCommitStats> {
        &self.stats
    }

    /// Runs `statements` in the writer's transaction and answers once the
    /// outcome is known: a [`Write::Commit`] after its commit is on disk.
    pub(super) async fn write<T, F>(&self, statements: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> TxFuture<'t, StoreResult<Write<T>>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(Pending { statements, reply });
        self.queue
            .send(job)
            .await
            .map_err(|_| StoreError::WriterFailed)?;
        answer.await.map_err(|_| StoreError::WriterFailed)?
    }
}

struct WriterTask {
    pool: SqlitePool,
    jobs: mpsc::Receiver<Job>,
    /// Requests of a lost batch that had not run yet: they go first.
    carried: VecDeque<Job>,
    batch: usize,
    stats: Arc<GroupCommitStats>,
}

impl WriterTask {
    async fn run(mut self) {
        while let Some(batch) = self.next_batch().await {
            self.write(batch).await;
        }
    }

    /// Waits for a request, then takes every other one already queued (up
    /// to the batch size). `None` once every handle is gone.
    async fn next_batch(&mut self) -> Option<Vec<Job>> {
        let mut batch: Vec<Job> = Vec::with_capacity(self.batch.min(64));
        while batch.len() < self.batch {
            let Some(job) = self.carried.pop_front() else {
                break;
            };
            batch.push(job);
        }
        if batch.is_empty() {
            batch.push(self.jobs.recv().await?);
        }
        while batch.len() < self.batch {
            match self.jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        Some(batch)
    }

    async fn write(&mut self, batch: Vec<Job>) {
        let mut tx = match self.pool.begin_with("BEGIN IMMEDIATE").await {
            Ok(tx) => tx,
            Err(e) => {
                // Nothing ran: every request of the batch gets the error.
                let e = Arc::new(e);
                for job in batch {
                    job.refuse(Arc::clone(&e));
                }
                return;
            }
        };
        let mut to_answer: Vec<Answer> = Vec::with_capacity(batch.len());
        let mut kept: u64 = 0;
        let mut jobs = batch.into_iter();
        let mut lost: Option<Arc<sqlx::Error>> = None;
        for job in jobs.by_ref() {
            if let Err(e) = statement(&mut tx, SAVEPOINT).await {
                // Refused rather than carried, so that every batch answers
                // at least one request and a lasting failure cannot loop.
                let e = Arc::new(e);
                job.refuse(Arc::clone(&e));
                lost = Some(e);
                break;
            }
            let ran = job.run(&mut tx).await;
            to_answer.extend(ran.answer);
            let closed = if ran.keep {
                kept += 1;
                statement(&mut tx, RELEASE).await
            } else {
                match statement(&mut tx, ROLLBACK_TO).await {
                    Ok(()) => statement(&mut tx, RELEASE).await,
                    Err(e) => Err(e),
                }
            };
            if let Err(e) = closed {
                lost = Some(Arc::new(e));
                break;
            }
        }
        let committed = match lost {
            // SQLite rolled the transaction back (full disk, I/O error):
            // everything written in it is gone; what had not run yet is kept.
            Some(e) => {
                self.carried.extend(jobs);
                tracing::warn!(error = %e, "a group commit's transaction was lost");
                drop(tx);
                Err(e)
            }
            // A commit that wrote nothing (only refusals) costs no fsync.
            None => tx.commit().await.map_err(Arc::new),
        };
        if committed.is_ok() && kept > 0 {
            self.stats.commits.fetch_add(1, Ordering::Relaxed);
            self.stats.requests.fetch_add(kept, Ordering::Relaxed);
        }
        for answer in to_answer {
            answer(committed.clone());
        }
    }
}

async fn statement(tx: &mut Tx, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::query(sql).execute(&mut **tx).await.map(|_| ())
}

#[cfg(test)]
#[path = "group_commit_tests.rs"]
mod tests;
