//! The SQLite session cache: two stores on one database file stand for two
//! processes (each has its own cache and change feed), and a connection of
//! the test's own for any other statement. A session warm in B's cache,
//! changed through A or the test's connection: B must refuse it (or show
//! the new profile) within 100 ms; B's own changes at once. The triggers
//! announce a change to each column `session_user` could see, a reader
//! that finds the change log pruned past its place flushes, and so does one
//! that cannot read the log at all (then every poll flushes until it can),
//! and one whose log starts again below its place (a restored backup).

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Connection as _;

use siwa_server::store::{SessionCacheStats, Store, User};

use crate::harness::{unique, Backend, Database};
use crate::session_cache::{self, report};

/// The bound the cache promises for a change made by another process.
const BOUND: Duration = Duration::from_millis(100);
/// Changes measured per kind.
const REPEATS: usize = 10;

struct Processes {
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
    admin: sqlx::SqliteConnection,
    _db: Database,
}

impl Processes {
    async fn start() -> Self {
        let db = Database::new(Backend::Sqlite).await;
        let a: Arc<dyn Store> = Arc::from(siwa_server::store::connect(&db.url).await.unwrap());
        let b: Arc<dyn Store> = Arc::from(siwa_server::store::connect(&db.url).await.unwrap());
        let admin = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        let processes = Self {
            a,
            b,
            admin,
            _db: db,
        };
        processes.following().await;
        processes
    }

    fn cache(&self) -> Arc<SessionCacheStats> {
        self.b
            .session_cache()
            .expect("a SQLite file store keeps a session cache")
    }

    /// Waits until B's change feed has made its first read (a lookup starts it).
    async fn following(&self) {
        let cache = self.cache();
        let _ = self.b.session_user("none", "none", 0).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cache.listening() {
            assert!(Instant::now() < deadline, "B's change feed never started");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A user with one session (straight into the tables).
    async fn session(&mut self) -> (String, String) {
        let (user, family) = (unique("u"), unique("f"));
        sqlx::query(
            "INSERT INTO users (id, email, created_at, last_login_at) VALUES (?1, 'old@example.com', 1, 1)",
        )
        .bind(&user)
        .execute(&mut self.admin)
        .await
        .unwrap();
        self.family(&user, &family).await;
        (user, family)
    }

    async fn family(&mut self, user: &str, family: &str) {
        sqlx::query(
            "INSERT INTO session_families (family_id, user_id, created_at, expires_at) \
             VALUES (?1, ?2, 100, 4000000000)",
        )
        .bind(family)
        .bind(user)
        .execute(&mut self.admin)
        .await
        .unwrap();
    }

    async fn warm(&self, user: &str, family: &str) {
        session_cache::warm(self.b.as_ref(), user, family).await;
    }

    /// Whether B answers the session from its cache now (and what).
    async fn hit(&self, user: &str, family: &str) -> (bool, Option<User>) {
        let hits = self.cache().hits();
        let found = self.b.session_user(family, user, 0).await.unwrap();
        (self.cache().hits() > hits, found)
    }

    async fn staleness(
        &self,
        user: &str,
        family: &str,
        done: impl Fn(Option<&User>) -> bool,
    ) -> Duration {
        session_cache::staleness(self.b.as_ref(), user, family, done).await
    }

    /// A statement of the test's own connection (any other process).
    async fn admin(&mut self, sql: &str) {
        sqlx::query(sql).execute(&mut self.admin).await.unwrap();
    }

    /// A session warm in B's cache, ended by A: B refuses it within the
    /// bound (B is following the log).
    async fn logout_reaches_b(&mut self) {
        let (user, family) = self.session().await;
        self.warm(&user, &family).await;
        self.a.end_session(&family).await.unwrap();
        let took = self.staleness(&user, &family, |u| u.is_none()).await;
        assert!(took < BOUND, "{took:?}");
    }

    async fn changes_logged(&mut self) -> i64 {
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM session_changes")
            .fetch_one(&mut self.admin)
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_by_another_process_is_refused_within_100_ms() {
    let mut p = Processes::start().await;
    let mut all = Vec::new();

    let mut samples = Vec::new();
    for _ in 0..REPEATS {
        let (user, family) = p.session().await;
        p.warm(&user, &family).await;
        p.a.end_session(&family).await.unwrap();
        samples.push(p.staleness(&user, &family, |u| u.is_none()).await);
    }
    all.push(report("SQLite, logout", &samples));

    let mut samples = Vec::new();
    for _ in 0..REPEATS {
        let (user, family) = p.session().await;
        p.warm(&user, &family).await;
        p.a.end_user_sessions(&user).await.unwrap();
        samples.push(p.staleness(&user, &family, |u| u.is_none()).await);
    }
    all.push(report("SQLite, all sessions revoked", &samples));

    let mut samples = Vec::new();
    for _ in 0..REPEATS {
        let (user, family) = p.session().await;
        p.warm(&user, &family).await;
        p.a.erase_user(&user, 1_000).await.unwrap();
        samples.push(p.staleness(&user, &family, |u| u.is_none()).await);
    }
    all.push(report("SQLite, user erased", &samples));

    // Any statement of any connection (the `sqlite3` shell, a script).
    let mut samples = Vec::new();
    for _ in 0..REPEATS {
        let (user, family) = p.session().await;
        p.warm(&user, &family).await;
        sqlx::query("UPDATE users SET email = 'new@example.com' WHERE id = ?1")
            .bind(&user)
            .execute(&mut p.admin)
            .await
            .unwrap();
        let new =
            |u: Option<&User>| u.is_some_and(|u| u.email.as_deref() == Some("new@example.com"));
        samples.push(p.staleness(&user, &family, new).await);
    }
    all.push(report("SQLite, email updated", &samples));

    let mut samples = Vec::new();
    for _ in 0..REPEATS {
        let (user, family) = p.session().await;
        p.warm(&user, &family).await;
        sqlx::query("DELETE FROM users WHERE id = ?1")
            .bind(&user)
            .execute(&mut p.admin)
            .await
            .unwrap();
        samples.push(p.staleness(&user, &family, |u| u.is_none()).await);
    }
    all.push(report(
        "SQLite, user deleted by hand (families by cascade)",
        &samples,
    ));

    // A refresh extends the family's expiry only: not announced, the entry stays.
    let (user, family) = p.session().await;
    p.warm(&user, &family).await;
    let logged = p.changes_logged().await;
    sqlx::query("UPDATE session_families SET expires_at = expires_at + 10 WHERE family_id = ?1")
        .bind(&family)
        .execute(&mut p.admin)
        .await
        .unwrap();
    assert_eq!(p.changes_logged().await, logged);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (hit, found) = p.hit(&user, &family).await;
    assert!(hit && found.is_some(), "the entry was dropped");

    let max = all.into_iter().max().unwrap_or_default();
    let _ = writeln!(
        std::io::stderr(),
        "SQLite session cache staleness, max over all: {max:?}"
    );
    assert!(
        max < BOUND,
        "a change took {max:?} to reach the other process"
    );
    assert!(p.cache().listening());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_reads_its_own_writes_at_once() {
    let mut p = Processes::start().await;
    let (user, family) = p.session().await;
    p.warm(&user, &family).await;
    // B's own logout: refused on the very next read, before any poll.
    p.b.end_session(&family).await.unwrap();
    assert!(p.b.session_user(&family, &user, 0).await.unwrap().is_none());

    let other = unique("f");
    p.family(&user, &other).await;
    p.warm(&user, &other).await;
    p.b.end_user_sessions(&user).await.unwrap();
    assert!(p.b.session_user(&other, &user, 0).await.unwrap().is_none());

    let (user, family) = p.session().await;
    p.warm(&user, &family).await;
    p.b.erase_user(&user, 1_000).await.unwrap();
    assert!(p.b.session_user(&family, &user, 0).await.unwrap().is_none());

    // Many times over, racing the poller: never a cached answer after the write.
    for _ in 0..50 {
        let (user, family) = p.session().await;
        p.warm(&user, &family).await;
        p.b.end_session(&family).await.unwrap();
        assert!(p.b.session_user(&family, &user, 0).await.unwrap().is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_column_a_session_check_could_see_is_announced() {
    let mut p = Processes::start().await;
    let (user, family) = p.session().await;
    let (other_user, _) = p.session().await;
    let columns: Vec<(String, String)> =
        sqlx::query_as("SELECT name, type FROM pragma_table_info('session_families')")
            .fetch_all(&mut p.admin)
            .await
            .unwrap();
    assert!(columns.len() >= 8, "{columns:?}");
    let mut current = family;
    for (column, kind) in &columns {
        let renamed = unique("f");
        let value = match (column.as_str(), kind.as_str()) {
            ("user_id", _) => format!("'{other_user}'"),
            ("family_id", _) => format!("'{renamed}'"),
            (_, "INTEGER") => format!("COALESCE({column}, 0) + 1"),
            _ => format!("COALESCE({column}, '') || 'x'"),
        };
        let before = p.changes_logged().await;
        let updated = sqlx::query(&format!(
            "UPDATE session_families SET {column} = {value} WHERE family_id = ?1"
        ))
        .bind(&current)
        .execute(&mut p.admin)
        .await
        .unwrap();
        assert_eq!(updated.rows_affected(), 1);
        if column == "family_id" {
            current = renamed;
        }
        let after = p.changes_logged().await;
        if column == "expires_at" {
            assert_eq!(after, before, "{column} is not read by the session check");
        } else {
            assert!(
                after > before,
                "a change to session_families.{column} is not announced: \
                 list it in the trigger (migrations/sqlite/*_session_cache.sql)"
            );
        }
    }

    // Every user column, including the time of the last sign-in (cheap here:
    // a row in the same transaction).
    let users: Vec<(String, String)> =
        sqlx::query_as("SELECT name, type FROM pragma_table_info('users') WHERE name <> 'id'")
            .fetch_all(&mut p.admin)
            .await
            .unwrap();
    for (column, kind) in &users {
        let value = if kind == "INTEGER" {
            format!("COALESCE({column}, 0) + 1")
        } else {
            format!("COALESCE({column}, '') || 'x'")
        };
        let before = p.changes_logged().await;
        sqlx::query(&format!(
            "UPDATE users SET {column} = {value} WHERE id = ?1"
        ))
        .bind(&user)
        .execute(&mut p.admin)
        .await
        .unwrap();
        assert!(p.changes_logged().await > before, "users.{column}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_pruned_past_a_readers_place_flushes_its_cache() {
    let mut p = Processes::start().await;
    let (user, family) = p.session().await;
    p.warm(&user, &family).await;
    // One transaction of more changes than the log keeps, none of them this
    // user's: B finds the log starting after its place, and cannot know
    // what it missed.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 70000) \
         INSERT INTO session_changes (user_id) SELECT 'someone-else' FROM n",
    )
    .execute(&mut p.admin)
    .await
    .unwrap();
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM session_changes")
        .fetch_one(&mut p.admin)
        .await
        .unwrap();
    assert!(kept <= 65_536 + 1_024, "the log is bounded: {kept}");
    let start = Instant::now();
    loop {
        let (hit, found) = p.hit(&user, &family).await;
        assert!(found.is_some());
        if !hit {
            break;
        }
        assert!(start.elapsed() < BOUND, "B kept its entry past the gap");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // And it goes on following the log after the flush.
    p.logout_reaches_b().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_log_that_cannot_be_read_flushes_the_cache() {
    let mut p = Processes::start().await;
    let (user, family) = p.session().await;
    p.warm(&user, &family).await;
    // The log out of the readers' reach: renamed (the triggers follow the
    // rename, so writes go on and are logged where no reader looks).
    p.admin("ALTER TABLE session_changes RENAME TO session_changes_away")
        .await;
    // A change B cannot read about is refused within the bound all the same:
    // each failed read flushes the cache, and the database says no.
    p.a.end_session(&family).await.unwrap();
    let took = p.staleness(&user, &family, |u| u.is_none()).await;
    assert!(
        took < BOUND,
        "a failed read left a stale entry for {took:?}"
    );
    // Failing reads flush every time: no entry outlives a poll.
    let (user, family) = p.session().await;
    p.warm(&user, &family).await;
    sqlx::query("UPDATE users SET email = 'new@example.com' WHERE id = ?1")
        .bind(&user)
        .execute(&mut p.admin)
        .await
        .unwrap();
    let new = |u: Option<&User>| u.is_some_and(|u| u.email.as_deref() == Some("new@example.com"));
    let took = p.staleness(&user, &family, new).await;
    assert!(took < BOUND, "{took:?}");

    // The log back: B follows it again from where it was, entries and all.
    p.admin("ALTER TABLE session_changes_away RENAME TO session_changes")
        .await;
    let (user, family) = p.session().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        p.warm(&user, &family).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        if p.hit(&user, &family).await.0 {
            break;
        }
        assert!(Instant::now() < deadline, "B never used its cache again");
    }
    p.logout_reaches_b().await;
    assert!(p.cache().listening());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_log_that_starts_again_below_a_readers_place_flushes_its_cache() {
    let mut p = Processes::start().await;
    // Some changes, read by B: its place is above zero.
    for _ in 0..5 {
        p.logout_reaches_b().await;
    }
    let (user, family) = p.session().await;
    p.warm(&user, &family).await;
    // The log as a file restored from an older backup leaves it: fewer
    // rows, and a sequence that numbers the next change below B's place.
    p.admin("DELETE FROM session_changes").await;
    p.admin("UPDATE sqlite_sequence SET seq = 0 WHERE name = 'session_changes'")
        .await;
    sqlx::query("UPDATE session_families SET revoked = 1 WHERE family_id = ?1")
        .bind(&family)
        .execute(&mut p.admin)
        .await
        .unwrap();
    assert_eq!(p.changes_logged().await, 1);
    let took = p.staleness(&user, &family, |u| u.is_none()).await;
    assert!(
        took < BOUND,
        "a restarted log left a stale entry for {took:?}"
    );
    // And B follows the log from its new place.
    p.logout_reaches_b().await;
}
