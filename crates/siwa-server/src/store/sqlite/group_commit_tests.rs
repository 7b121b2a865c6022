//! The writer on its own, over a scratch database file: batching, failures
//! isolated by savepoints, order, and answers only after the commit.

use std::path::PathBuf;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use tokio::sync::oneshot;

use super::{DirectConn, Write, Writer};
use crate::store::StoreError;

struct Scratch {
    dir: PathBuf,
    pool: SqlitePool,
}

impl Scratch {
    fn direct(&self) -> Option<DirectConn> {
        Some(DirectConn::new(self.dir.join("t.db")))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("siwa-group-commit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let options =
        SqliteConnectOptions::from_str(&format!("sqlite://{}", dir.join("t.db").display()))
            .unwrap()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        // As the store's pool: a connection left in a lost transaction is closed.
        .before_acquire(|conn, _| Box::pin(super::super::connection::out_of_transaction(conn)))
        .connect_with(options)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    Scratch { dir, pool }
}

/// Queues an insert of `(k, v)`; its answer is the number of rows seen after it.
fn insert(writer: &Writer, k: &str, v: i64) -> tokio::task::JoinHandle<Result<i64, StoreError>> {
    let (writer, k) = (writer.clone(), k.to_owned());
    tokio::spawn(async move {
        writer
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO t (k, v) VALUES (?1, ?2)")
                        .bind(&k)
                        .bind(v)
                        .execute(&mut **tx)
                        .await?;
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
                        .fetch_one(&mut **tx)
                        .await?;
                    Ok(Write::Commit(n))
                })
            })
            .await
    })
}

/// Holds the writer inside a batch until `release` fires; returns once the
/// batch is running.
async fn hold(
    writer: &Writer,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), StoreError>>,
) {
    let (release, released) = oneshot::channel::<()>();
    let (started, running) = oneshot::channel::<()>();
    let writer = writer.clone();
    let held = tokio::spawn(async move {
        writer
            .write(move |_tx| {
                Box::pin(async move {
                    let _ = started.send(());
                    let _ = released.await;
                    Ok(Write::Commit(()))
                })
            })
            .await
    });
    running.await.unwrap();
    (release, held)
}

/// Lets spawned requests reach the queue.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
}

async fn count(pool: &SqlitePool) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM t")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_gather_are_committed_together() {
    let db = scratch("gather").await;
    let writer = Writer::start(db.pool.clone(), usize::MAX, None, None);
    let (release, held) = hold(&writer).await;
    let queued: Vec<_> = (0..20)
        .map(|i| insert(&writer, &format!("k{i}"), i))
        .collect();
    settle().await;
    release.send(()).unwrap();
    held.await.unwrap().unwrap();
    let mut seen = Vec::new();
    for request in queued {
        seen.push(request.await.unwrap().unwrap());
    }
    // In queue order, each sees the rows of those before it in its batch.
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=20).collect::<Vec<i64>>());
    assert_eq!(count(&db.pool).await, 20);
    let stats = writer.stats();
    assert_eq!(stats.requests(), 21);
    assert_eq!(
        stats.commits(),
        2,
        "the held request's commit, then one for the 20 that gathered behind it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_request_does_not_fail_its_batch() {
    let db = scratch("isolated").await;
    let writer = Writer::start(db.pool.clone(), usize::MAX, None, None);
    let (release, held) = hold(&writer).await;
    let first = insert(&writer, "a", 1);
    settle().await;
    // The same key again: a constraint violation, in the same batch.
    let duplicate = insert(&writer, "a", 2);
    settle().await;
    let last = insert(&writer, "b", 3);
    settle().await;
    release.send(()).unwrap();
    held.await.unwrap().unwrap();
    assert_eq!(first.await.unwrap().unwrap(), 1);
    let refused = duplicate.await.unwrap().unwrap_err();
    assert!(matches!(refused, StoreError::Database(_)), "{refused:?}");
    assert_eq!(
        last.await.unwrap().unwrap(),
        2,
        "the refused row was rolled back"
    );
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT k, v FROM t ORDER BY k")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows, [("a".to_owned(), 1), ("b".to_owned(), 3)]);
    assert_eq!(writer.stats().commits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discarded_request_writes_nothing_and_a_panic_stays_in_its_request() {
    let db = scratch("discard").await;
    let writer = Writer::start(db.pool.clone(), usize::MAX, None, None);
    let (release, held) = hold(&writer).await;
    let discarded = {
        let writer = writer.clone();
        tokio::spawn(async move {
            writer
                .write(|tx| {
                    Box::pin(async move {
                        sqlx::query("INSERT INTO t (k, v) VALUES ('gone', 0)")
                            .execute(&mut **tx)
                            .await?;
                        Ok(Write::Discard("refused"))
                    })
                })
                .await
        })
    };
    settle().await;
    let panicked = {
        let writer = writer.clone();
        tokio::spawn(async move {
            writer
                .write(|tx| {
                    Box::pin(async move {
                        sqlx::query("INSERT INTO t (k, v) VALUES ('half', 0)")
                            .execute(&mut **tx)
                            .await?;
                        let bug = true;
                        if bug {
                            panic!("a bug in one request");
                        }
                        Ok(Write::Commit(()))
                    })
                })
                .await
        })
    };
    settle().await;
    let kept = insert(&writer, "kept", 1);
    settle().await;
    release.send(()).unwrap();
    held.await.unwrap().unwrap();
    assert_eq!(discarded.await.unwrap().unwrap(), "refused");
    assert!(matches!(
        panicked.await.unwrap(),
        Err(StoreError::WriterFailed)
    ));
    assert_eq!(kept.await.unwrap().unwrap(), 1);
    let keys: Vec<String> = sqlx::query_scalar("SELECT k FROM t")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(keys, ["kept"]);
    // The writer still works after the panic.
    assert_eq!(insert(&writer, "after", 2).await.unwrap().unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_come_after_the_commit_and_a_lost_transaction_fails_its_writes() {
    let db = scratch("lost").await;
    let writer = Writer::start(db.pool.clone(), usize::MAX, None, None);
    // Answered only once durable: another connection sees the row at once.
    insert(&writer, "seen", 1).await.unwrap().unwrap();
    assert_eq!(count(&db.pool).await, 1);

    let (release, held) = hold(&writer).await;
    let written = insert(&writer, "lost", 2);
    settle().await;
    // Ends the batch's transaction under the writer, as SQLite does itself
    // on a full disk or an I/O error.
    let breaker = {
        let writer = writer.clone();
        tokio::spawn(async move {
            writer
                .write(|tx| {
                    Box::pin(async move {
                        sqlx::query("ROLLBACK").execute(&mut **tx).await?;
                        Ok(Write::Commit(()))
                    })
                })
                .await
        })
    };
    settle().await;
    let later = insert(&writer, "later", 3);
    settle().await;
    release.send(()).unwrap();
    held.await.unwrap().unwrap();
    // The next batch: `written`, the breaker, `later`.
    assert!(matches!(written.await.unwrap(), Err(StoreError::Batch(_))));
    assert!(matches!(breaker.await.unwrap(), Err(StoreError::Batch(_))));
    // The request that had not run yet went with the next batch.
    later.await.unwrap().unwrap();
    let keys: Vec<String> = sqlx::query_scalar("SELECT k FROM t ORDER BY k")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(keys, ["later", "seen"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_per_commit_when_batching_is_off() {
    let db = scratch("off").await;
    let writer = Writer::start(db.pool.clone(), 1, None, None);
    let (release, held) = hold(&writer).await;
    let queued: Vec<_> = (0..5)
        .map(|i| insert(&writer, &format!("k{i}"), i))
        .collect();
    settle().await;
    release.send(()).unwrap();
    held.await.unwrap().unwrap();
    for request in queued {
        request.await.unwrap().unwrap();
    }
    assert_eq!(writer.stats().commits(), 6);
}

/// Queues a direct insert of `(k, v)`; its answer is the number of rows seen after it.
fn insert_direct(
    writer: &Writer,
    k: &str,
    v: i64,
) -> tokio::task::JoinHandle<Result<i64, StoreError>> {
    let (writer, k) = (writer.clone(), k.to_owned());
    tokio::spawn(async move {
        writer
            .write_direct(move |conn| {
                conn.execute("INSERT INTO t (k, v) VALUES (?1, ?2)", (&k, v))
                    .map_err(StoreError::Write)?;
                let n: i64 = conn
                    .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
                    .map_err(StoreError::Write)?;
                Ok(Write::Commit(n))
            })
            .await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_and_sqlx_requests_keep_their_order_and_fail_alone() {
    let db = scratch("direct").await;
    let writer = Writer::start(db.pool.clone(), usize::MAX, db.direct(), None);
    assert!(writer.takes_direct());
    let (release, held) = hold(&writer).await;
    let mut queued = Vec::new();
    for (i, direct) in [false, true, true, false, true].into_iter().enumerate() {
        queued.push(if direct {
            insert_direct(&writer, &format!("k{i}"), 0)
        } else {
            insert(&writer, &format!("k{i}"), 0)
        });
        settle().await;
    }
    // A direct duplicate and a direct panic, in a run with a good one.
    let duplicate = insert_direct(&writer, "k1", 9);
    settle().await;
    let panicked = {
        let writer = writer.clone();
        tokio::spawn(async move {
            writer
                .write_direct(|conn| {
                    conn.execute("INSERT INTO t (k, v) VALUES ('half', 0)", [])
                        .map_err(StoreError::Write)?;
                    let bug = true;
                    if bug {
                        panic!("a bug in one direct request");
                    }
                    Ok(Write::Commit(0))
                })
                .await
        })
    };
    settle().await;
    let after = insert_direct(&writer, "k7", 0);
    settle().await;
    release.send(()).unwrap();
    held.await.unwrap().unwrap();
    let seen: Vec<i64> = {
        let mut seen = Vec::new();
        for request in queued {
            seen.push(request.await.unwrap().unwrap());
        }
        seen
    };
    assert_eq!(seen, [1, 2, 3, 4, 5], "each saw the rows queued before it");
    assert!(matches!(
        duplicate.await.unwrap(),
        Err(StoreError::Write(_))
    ));
    assert!(matches!(
        panicked.await.unwrap(),
        Err(StoreError::WriterFailed)
    ));
    assert_eq!(after.await.unwrap().unwrap(), 6);
    let keys: Vec<String> = sqlx::query_scalar("SELECT k FROM t ORDER BY k")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(keys, ["k0", "k1", "k2", "k3", "k4", "k7"]);
    // The held request's commit, then runs: sqlx, direct (2 + the 3 after
    // k3 form one run with k4), sqlx, direct.
    assert_eq!(writer.stats().requests(), 7);
    assert_eq!(writer.stats().commits(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_direct_transaction_fails_its_writes_and_heals() {
    let db = scratch("direct-lost").await;
    let writer = Writer::start(db.pool.clone(), usize::MAX, db.direct(), None);
    let (release, held) = hold(&writer).await;
    let written = insert_direct(&writer, "lost", 1);
    settle().await;
    let breaker = {
        let writer = writer.clone();
        tokio::spawn(async move {
            writer
                .write_direct(|conn| {
                    conn.execute_batch("ROLLBACK").map_err(StoreError::Write)?;
                    Ok(Write::Commit(()))
                })
                .await
        })
    };
    settle().await;
    let later = insert_direct(&writer, "later", 2);
    settle().await;
    release.send(()).unwrap();
    held.await.unwrap().unwrap();
    assert!(matches!(written.await.unwrap(), Err(StoreError::Batch(_))));
    assert!(matches!(breaker.await.unwrap(), Err(StoreError::Batch(_))));
    assert_eq!(
        later.await.unwrap().unwrap(),
        1,
        "carried to the next batch"
    );
    assert_eq!(
        insert_direct(&writer, "again", 3).await.unwrap().unwrap(),
        2
    );
    assert_eq!(count(&db.pool).await, 2);
}
