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
//!
//! A request's statements are either sqlx's (each statement a round trip to
//! sqlx's connection thread, two thread wake-ups) or direct ones (rusqlite,
//! on the writer's own connection, `direct.rs`): the hot path, a refresh's
//! rotation, is direct. A batch is written as runs of consecutive requests
//! of one kind, each run one transaction, in queue order; a direct run is
//! one hand-over to a blocking thread, statements and fsync included.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::FutureExt as _;
use rusqlite::{Connection, OpenFlags};
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::super::{StoreError, StoreResult};
use super::BUSY_TIMEOUT;

/// The write transaction a request's statements run in.
pub(super) type Tx = Transaction<'static, Sqlite>;

/// A boxed future borrowing the transaction.
pub(super) type TxFuture<'t, T> = Pin<Box<dyn Future<Output = T> + Send + 't>>;

/// What a request's statements decided.
pub(super) enum Write<T> {
    /// Keep the writes; answer `T` once they are on disk.
    Commit(T),
    /// Roll the request's writes back (it found nothing to do, or refused).
    /// `T` is still answered after the batch's commit: it may rest on what
    /// an earlier request of the batch wrote.
    Discard(T),
}

/// Requests written together at most (bounds a batch's time and memory).
const MAX_BATCH: usize = 256;
/// Requests waiting at most; beyond it, callers wait to queue (backpressure).
const QUEUE: usize = 4096;

/// The name of each request's savepoint (sqlx's own are `_sqlx_savepoint_N`).
pub(super) const SAVEPOINT: &str = "SAVEPOINT siwa_request";
pub(super) const RELEASE: &str = "RELEASE siwa_request";
pub(super) const ROLLBACK_TO: &str = "ROLLBACK TO siwa_request";

/// How a batch ended: committed, or the error every write in it gets.
pub(super) type Committed = Result<(), Arc<StoreError>>;
/// How a request is answered once its batch's fate is known.
type Answer = Box<dyn FnOnce(Committed) + Send>;

/// What a request's statements came to.
pub(super) struct Ran {
    /// Whether its writes are kept (released) or rolled back to its savepoint.
    pub(super) keep: bool,
    /// How to answer after the commit; `None` when it was answered already
    /// (a failed request waits for nothing).
    answer: Option<Answer>,
}

/// A request whose statements are sqlx's.
trait AsyncRequest: Send {
    fn run<'t>(self: Box<Self>, tx: &'t mut Tx) -> TxFuture<'t, Ran>;
    fn refuse(self: Box<Self>, error: Arc<StoreError>);
}

/// A request whose statements run directly on the connection (rusqlite).
pub(super) trait DirectRequest: Send {
    fn run(self: Box<Self>, conn: &rusqlite::Connection) -> Ran;
    fn refuse(self: Box<Self>, error: Arc<StoreError>);
}

enum Job {
    Async(Box<dyn AsyncRequest>),
    Direct(Box<dyn DirectRequest>),
}

/// A request and where its answer goes.
struct Pending<F, T> {
    statements: F,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<F, T: Send + 'static> Pending<F, T> {
    /// Turns what the statements returned (or their panic) into a [`Ran`].
    fn outcome(
        reply: oneshot::Sender<StoreResult<T>>,
        outcome: std::thread::Result<StoreResult<Write<T>>>,
    ) -> Ran {
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
    }
}

impl<F, T> AsyncRequest for Pending<F, T>
where
    T: Send + 'static,
    F: for<'t> FnOnce(&'t mut Tx) -> TxFuture<'t, StoreResult<Write<T>>> + Send + 'static,
{
    fn run<'t>(self: Box<Self>, tx: &'t mut Tx) -> TxFuture<'t, Ran> {
        let Pending { statements, reply } = *self;
        Box::pin(async move {
            // A panic in one request must not take the writer down.
            let outcome = AssertUnwindSafe(statements(tx)).catch_unwind().await;
            Self::outcome(reply, outcome)
        })
    }

    fn refuse(self: Box<Self>, error: Arc<StoreError>) {
        let _ = self.reply.send(Err(StoreError::Batch(error)));
    }
}

/// A direct request: its closure takes the connection, not the transaction.
struct Direct<F, T>(Pending<F, T>);

impl<F, T> DirectRequest for Direct<F, T>
where
    T: Send + 'static,
    F: FnOnce(&rusqlite::Connection) -> StoreResult<Write<T>> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &rusqlite::Connection) -> Ran {
        let Pending { statements, reply } = self.0;
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| statements(conn)));
        Pending::<F, T>::outcome(reply, outcome)
    }

    fn refuse(self: Box<Self>, error: Arc<StoreError>) {
        let _ = self.0.reply.send(Err(StoreError::Batch(error)));
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

/// Run after each commit that kept a write, before its requests are answered
/// (the session cache's catch-up, `change_feed.rs`).
pub(super) type AfterCommit = Arc<dyn Fn() + Send + Sync>;

/// The handle requests write through; the writer task stops when the last
/// handle is dropped.
#[derive(Clone, Debug)]
pub(super) struct Writer {
    queue: mpsc::Sender<Job>,
    stats: Arc<GroupCommitStats>,
    direct_enabled: bool,
}

impl Writer {
    /// Starts the writer task on the current runtime. `batch` is the most
    /// requests a transaction takes (1: a commit per request, as without
    /// group commit).
    /// `direct`: the writer's own connection for direct requests (file
    /// databases; `None` runs them as if queued on a full queue: refused).
    /// `after_commit`: see [`AfterCommit`].
    pub(super) fn start(
        pool: SqlitePool,
        batch: usize,
        direct: Option<DirectConn>,
        after_commit: Option<AfterCommit>,
    ) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let stats = Arc::new(GroupCommitStats::default());
        let direct_enabled = direct.is_some();
        let task = WriterTask {
            pool,
            direct,
            jobs,
            carried: VecDeque::new(),
            batch: batch.clamp(1, MAX_BATCH),
            stats: Arc::clone(&stats),
            after_commit,
        };
        tokio::spawn(task.run());
        Self {
            queue,
            stats,
            direct_enabled,
        }
    }

    /// Whether direct requests can be written (a file database).
    pub(super) fn takes_direct(&self) -> bool {
        self.direct_enabled
    }

    pub(super) fn stats(&self) -> &Arc<GroupCommitStats> {
        &self.stats
    }

    /// Runs `statements` (sqlx's) in the writer's transaction and answers
    /// once the outcome is known: a [`Write::Commit`] after its commit is on disk.
    pub(super) async fn write<T, F>(&self, statements: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> TxFuture<'t, StoreResult<Write<T>>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<StoreResult<T>>();
        self.queue(Job::Async(Box::new(Pending { statements, reply })), answer)
            .await
    }

    /// As [`Self::write`], for statements made directly on the connection
    /// (inside the writer's transaction; they must not end it).
    pub(super) async fn write_direct<T, F>(&self, statements: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> StoreResult<Write<T>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<StoreResult<T>>();
        let job = Job::Direct(Box::new(Direct(Pending { statements, reply })));
        self.queue(job, answer).await
    }

    async fn queue<T>(
        &self,
        job: Job,
        answer: oneshot::Receiver<StoreResult<T>>,
    ) -> StoreResult<T> {
        self.queue
            .send(job)
            .await
            .map_err(|_| StoreError::WriterFailed)?;
        answer.await.map_err(|_| StoreError::WriterFailed)?
    }
}

struct WriterTask {
    pool: SqlitePool,
    /// `None` while a direct run has it on its blocking thread, or for
    /// in-memory databases.
    direct: Option<DirectConn>,
    jobs: mpsc::Receiver<Job>,
    /// Requests of a lost batch that had not run yet: they go first.
    carried: VecDeque<Job>,
    batch: usize,
    stats: Arc<GroupCommitStats>,
    after_commit: Option<AfterCommit>,
}

/// What running a batch's requests left behind.
#[derive(Default)]
pub(super) struct Progress {
    to_answer: Vec<Answer>,
    kept: u64,
    /// The transaction was lost (SQLite rolled it back) with this error.
    lost: Option<Arc<StoreError>>,
}

impl Progress {
    pub(super) fn ran(&mut self, ran: Ran) {
        self.to_answer.extend(ran.answer);
        self.kept += u64::from(ran.keep);
    }
}

impl WriterTask {
    async fn run(mut self) {
        while let Some(batch) = self.next_batch().await {
            self.write(batch).await;
        }
    }

    /// Waits for a request, then takes every other one already queued (up
    /// to the batch size). `None` once every handle is gone.
    async fn next_batch(&mut self) -> Option<VecDeque<Job>> {
        let mut batch: VecDeque<Job> = VecDeque::with_capacity(self.batch.min(64));
        while batch.len() < self.batch {
            let Some(job) = self.carried.pop_front() else {
                break;
            };
            batch.push_back(job);
        }
        if batch.is_empty() {
            batch.push_back(self.jobs.recv().await?);
        }
        while batch.len() < self.batch {
            match self.jobs.try_recv() {
                Ok(job) => batch.push_back(job),
                Err(_) => break,
            }
        }
        Some(batch)
    }

    /// Writes a batch as runs of one kind, in order.
    async fn write(&mut self, mut batch: VecDeque<Job>) {
        while let Some(job) = batch.pop_front() {
            let lost = match job {
                Job::Async(first) => {
                    let mut run = vec![first];
                    while let Some(Job::Async(_)) = batch.front() {
                        if let Some(Job::Async(job)) = batch.pop_front() {
                            run.push(job);
                        }
                    }
                    self.write_async(run).await
                }
                Job::Direct(first) => {
                    let mut run = vec![first];
                    while let Some(Job::Direct(_)) = batch.front() {
                        if let Some(Job::Direct(job)) = batch.pop_front() {
                            run.push(job);
                        }
                    }
                    self.write_direct(run).await
                }
            };
            if let Some(leftover) = lost {
                // The run's transaction was lost: what had not run yet, and
                // the rest of the batch, go with the next batch.
                self.carried.extend(leftover);
                self.carried.extend(batch);
                return;
            }
        }
    }

    /// A run of sqlx requests in one transaction. `Some(leftover)` when the
    /// transaction was lost.
    async fn write_async(&mut self, run: Vec<Box<dyn AsyncRequest>>) -> Option<Vec<Job>> {
        let mut tx = match self.pool.begin_with("BEGIN IMMEDIATE").await {
            Ok(tx) => tx,
            Err(e) => {
                // Nothing ran: every request of the run gets the error.
                let e = Arc::new(StoreError::Database(e));
                for job in run {
                    job.refuse(Arc::clone(&e));
                }
                return None;
            }
        };
        let mut progress = Progress::default();
        let mut jobs = run.into_iter();
        for job in jobs.by_ref() {
            run_async(&mut tx, job, &mut progress).await;
            if progress.lost.is_some() {
                break;
            }
        }
        let committed = match progress.lost.take() {
            // SQLite rolled the transaction back (full disk, I/O error):
            // everything written in it is gone.
            Some(e) => {
                tracing::warn!(error = %e, "a group commit's transaction was lost");
                drop(tx);
                self.finish(progress, Err(e));
                return Some(jobs.map(Job::Async).collect());
            }
            // A commit that wrote nothing (only refusals) costs no fsync.
            None => tx
                .commit()
                .await
                .map_err(|e| Arc::new(StoreError::Database(e))),
        };
        self.finish(progress, committed);
        None
    }

    /// A run of direct requests in one transaction, on a blocking thread.
    async fn write_direct(&mut self, run: Vec<Box<dyn DirectRequest>>) -> Option<Vec<Job>> {
        let Some(mut direct) = self.direct.take() else {
            let e = Arc::new(StoreError::WriterFailed);
            for job in run {
                job.refuse(Arc::clone(&e));
            }
            return None;
        };
        let path = direct.path().to_owned();
        let written = tokio::task::spawn_blocking(move || {
            let written = direct.write(run);
            (direct, written)
        })
        .await;
        match written {
            Ok((direct, written)) => {
                self.direct = Some(direct);
                let lost = written.lost;
                self.finish(written.progress, written.committed);
                lost.then(|| written.leftover.into_iter().map(Job::Direct).collect())
            }
            Err(e) => {
                // Its requests were dropped with it (their callers see
                // `WriterFailed`); a new connection for the next run.
                tracing::error!(error = %e, "a direct write run failed");
                self.direct = Some(DirectConn::new(path));
                None
            }
        }
    }

    /// Counts a run and answers its requests.
    fn finish(&self, progress: Progress, committed: Committed) {
        if committed.is_ok() && progress.kept > 0 {
            self.stats.commits.fetch_add(1, Ordering::Relaxed);
            self.stats
                .requests
                .fetch_add(progress.kept, Ordering::Relaxed);
            if let Some(after_commit) = &self.after_commit {
                after_commit();
            }
        }
        for answer in progress.to_answer {
            answer(committed.clone());
        }
    }
}

/// One sqlx request in its savepoint.
async fn run_async(tx: &mut Tx, job: Box<dyn AsyncRequest>, progress: &mut Progress) {
    if let Err(e) = statement(tx, SAVEPOINT).await {
        // Refused rather than carried, so that every batch answers at least
        // one request and a lasting failure cannot loop.
        let e = Arc::new(StoreError::Database(e));
        job.refuse(Arc::clone(&e));
        progress.lost = Some(e);
        return;
    }
    let ran = job.run(tx).await;
    let closed = if ran.keep {
        statement(tx, RELEASE).await
    } else {
        match statement(tx, ROLLBACK_TO).await {
            Ok(()) => statement(tx, RELEASE).await,
            Err(e) => Err(e),
        }
    };
    progress.ran(ran);
    if let Err(e) = closed {
        progress.lost = Some(Arc::new(StoreError::Database(e)));
    }
}

/// The writer's own connection (rusqlite) for direct requests: a run of
/// them is handed to a blocking thread once, and its statements, savepoints
/// and the commit's fsync run there back to back, with cached prepared
/// statements. It has the store's settings (WAL, `synchronous=FULL`, foreign
/// keys, busy timeout). After a failed run it is closed and opened afresh for
/// the next, so a file-system fault does not outlive itself here.
pub(super) struct DirectConn {
    path: PathBuf,
    conn: Option<Connection>,
}

/// What a direct run came to.
pub(super) struct DirectWritten {
    pub(super) progress: Progress,
    pub(super) committed: Committed,
    /// The transaction was lost; `leftover` had not run.
    pub(super) lost: bool,
    pub(super) leftover: Vec<Box<dyn DirectRequest>>,
}

impl DirectConn {
    pub(super) fn new(path: PathBuf) -> Self {
        Self { path, conn: None }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )?;
        Ok(conn)
    }

    /// Writes a run in one transaction, each request in its savepoint.
    pub(super) fn write(&mut self, run: Vec<Box<dyn DirectRequest>>) -> DirectWritten {
        let mut progress = Progress::default();
        // Taken for the run; put back unless the run failed (then the next
        // run opens a new one).
        let opened = match self.conn.take() {
            Some(conn) => Ok(conn),
            None => self.connect(),
        };
        let began = opened.and_then(|conn| conn.execute_batch("BEGIN IMMEDIATE").map(|()| conn));
        let conn = match began {
            Ok(conn) => conn,
            Err(e) => {
                // Nothing ran: every request of the run gets the error.
                let e = Arc::new(StoreError::Write(e));
                for job in run {
                    job.refuse(Arc::clone(&e));
                }
                return DirectWritten {
                    progress,
                    committed: Ok(()),
                    lost: false,
                    leftover: Vec::new(),
                };
            }
        };
        let mut jobs = run.into_iter();
        let mut lost: Option<Arc<StoreError>> = None;
        for job in jobs.by_ref() {
            if let Err(e) = conn.execute_batch(SAVEPOINT) {
                // Refused rather than carried, so that a lasting failure cannot loop.
                let e = Arc::new(StoreError::Write(e));
                job.refuse(Arc::clone(&e));
                lost = Some(e);
                break;
            }
            let ran = job.run(&conn);
            let closed = if ran.keep {
                conn.execute_batch(RELEASE)
            } else {
                conn.execute_batch(ROLLBACK_TO)
                    .and_then(|()| conn.execute_batch(RELEASE))
            };
            progress.ran(ran);
            if let Err(e) = closed {
                lost = Some(Arc::new(StoreError::Write(e)));
                break;
            }
        }
        let committed = match lost {
            Some(e) => {
                tracing::warn!(error = %e, "a group commit's transaction was lost");
                let _ = conn.execute_batch("ROLLBACK");
                return DirectWritten {
                    progress,
                    committed: Err(e),
                    lost: true,
                    leftover: jobs.collect(),
                };
            }
            None => conn.execute_batch("COMMIT").map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                Arc::new(StoreError::Write(e))
            }),
        };
        if committed.is_ok() {
            self.conn = Some(conn);
        }
        DirectWritten {
            progress,
            committed,
            lost: false,
            leftover: Vec::new(),
        }
    }
}

async fn statement(tx: &mut Tx, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::query(sql).execute(&mut **tx).await.map(|_| ())
}

#[cfg(test)]
#[path = "group_commit_tests.rs"]
mod tests;
