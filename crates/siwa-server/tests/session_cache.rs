//! The PostgreSQL session cache across replicas: two stores on one schema,
//! a session warm in B's cache, changed through A; B must refuse (or show
//! the new profile) within 100 ms. And its fallback: with B's listener
//! down, B reads the database, and after it reconnects the cache works again.
//! Run only when `SIWA_TEST_DATABASE_URL` is set.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Connection as _;

use siwa_server::store::{SessionCacheStats, Store};

use crate::harness::{postgres_url, unique, Backend, Database};

/// The bound the cache promises while its listener is up.
const BOUND: Duration = Duration::from_millis(100);
/// Changes measured per kind.
const REPEATS: usize = 10;

/// Two replicas' stores on one fresh schema, and a connection of the test's own.
struct Replicas {
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
    admin: sqlx::PgConnection,
    _db: Database,
}

impl Replicas {
    async fn start() -> Option<Self> {
        if postgres_url().is_none() {
            // Straight to stderr: the test harness captures `eprintln!`.
            let _ = writeln!(
                std::io::stderr(),
                "skipping the session cache tests: SIWA_TEST_DATABASE_URL is not set"
            );
            return None;
        }
        let db = Database::new(Backend::Postgres).await;
        let a: Arc<dyn Store> = Arc::from(siwa_server::store::connect(&db.url).await.unwrap());
        let b: Arc<dyn Store> = Arc::from(siwa_server::store::connect(&db.url).await.unwrap());
        let admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
        Some(Self {
            a,
            b,
            admin,
            _db: db,
        })
    }

    fn cache(&self) -> Arc<SessionCacheStats> {
        self.b
            .session_cache()
            .expect("a PostgreSQL store keeps a session cache")
    }

    /// A user with one session (straight into the tables).
    async fn session(&mut self) -> (String, String) {
        let (user, family) = (unique("u"), unique("f"));
        sqlx::query(
            "INSERT INTO users (id, email, created_at, last_login_at) VALUES ($1, 'old@example.com', 1, 1)",
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
             VALUES ($1, $2, 100, 4000000000)",
        )
        .bind(family)
        .bind(user)
        .execute(&mut self.admin)
        .await
        .unwrap();
    }

    /// Waits until B's listener is connected `connects` times over.
    async fn listening(&self, connects: u64) {
        let cache = self.cache();
        // A read starts the listener.
        let _ = self.b.session_user("none", "none", 0).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(cache.listening() && cache.connects() >= connects) {
            assert!(Instant::now() < deadline, "B's listener never connected");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Reads the session on B until it is a hit from B's cache.
    async fn warm(&self, user: &str, family: &str) {
        warm(self.b.as_ref(), user, family).await;
    }

    /// Polls B until `done` holds of its answer; how long that took.
    async fn staleness(
        &self,
        user: &str,
        family: &str,
        done: impl Fn(Option<&siwa_server::store::User>) -> bool,
    ) -> Duration {
        staleness(self.b.as_ref(), user, family, done).await
    }
}

/// Reads the session on `store` until it is a hit from its cache (shared
/// with the SQLite tests).
pub(crate) async fn warm(store: &dyn Store, user: &str, family: &str) {
    let cache = store
        .session_cache()
        .expect("the store keeps a session cache");
    for _ in 0..100 {
        let hits = cache.hits();
        let found = store.session_user(family, user, 0).await.unwrap();
        assert!(found.is_some(), "the session is active");
        if cache.hits() > hits {
            return;
        }
    }
    panic!("the store never kept the session");
}

/// Polls `store` until `done` holds of its answer; how long that took.
pub(crate) async fn staleness(
    store: &dyn Store,
    user: &str,
    family: &str,
    done: impl Fn(Option<&siwa_server::store::User>) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let found = store.session_user(family, user, 0).await.unwrap();
        if done(found.as_ref()) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the store still answers from its cache after 5 s"
        );
        tokio::task::yield_now().await;
    }
}

/// Prints a kind of change's staleness (max, median); the max.
pub(crate) fn report(what: &str, samples: &[Duration]) -> Duration {
    let max = samples.iter().max().copied().unwrap_or_default();
    let mut sorted = samples.to_vec();
    sorted.sort();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    let _ = writeln!(
        std::io::stderr(),
        "session cache staleness, {what}: max {max:?}, median {median:?} over {} changes",
        samples.len()
    );
    max
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_replica_is_refused_on_another_within_100_ms() {
    let Some(mut replicas) = Replicas::start().await else {
        return;
    };
    replicas.listening(1).await;
    let now = 1_000;
    let mut all = Vec::new();

    // Logout (the family revoked).
    let mut samples = Vec::new();
    for _ in 0..REPEATS {
        let (user, family) = replicas.session().await;
        replicas.warm(&user, &family).await;
        replicas.a.end_session(&family).await.unwrap();
        samples.push(replicas.staleness(&user, &family, |u| u.is_none()).await);
    }
    all.push(report("logout", &samples));

    // Every session of the user revoked.
    let mut samples = Vec::new();
    for _ in 0..REPEATS {
        let (user, family) = replicas.session().await;
        replicas.warm(&user, &family).await;
        replicas.a.end_user_sessions(&user).await.unwrap();
        samples.push(replicas.staleness(&user, &family, |u| u.is_none()).await);
    }
    all.push(report("all sessions revoked", &samples));

    // The user erased (the families go by cascade).
    let mut samples = Vec::new();
    for _ in 0..REPEATS {
        let (user, family) = replicas.session().await;
        replicas.warm(&user, &family).await;
        replicas.a.erase_user(&user, now).await.unwrap();
        samples.push(replicas.staleness(&user, &family, |u| u.is_none()).await);
    }
    all.push(report("user erased", &samples));

    // The profile changed by any statement (here one of the test's own).
    let mut samples = Vec::new();
    for _ in 0..REPEATS {
        let (user, family) = replicas.session().await;
        replicas.warm(&user, &family).await;
        sqlx::query("UPDATE users SET email = 'new@example.com' WHERE id = $1")
            .bind(&user)
            .execute(&mut replicas.admin)
            .await
            .unwrap();
        let new = |u: Option<&siwa_server::store::User>| {
            u.is_some_and(|u| u.email.as_deref() == Some("new@example.com"))
        };
        samples.push(replicas.staleness(&user, &family, new).await);
    }
    all.push(report("email updated", &samples));

    // A refresh extends the family's expiry only: no notification, the entry stays.
    let (user, family) = replicas.session().await;
    replicas.warm(&user, &family).await;
    sqlx::query("UPDATE session_families SET expires_at = expires_at + 10 WHERE family_id = $1")
        .bind(&family)
        .execute(&mut replicas.admin)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let hits = replicas.cache().hits();
    assert!(replicas
        .b
        .session_user(&family, &user, 0)
        .await
        .unwrap()
        .is_some());
    assert_eq!(replicas.cache().hits(), hits + 1, "the entry was dropped");

    // A sign-in elsewhere moves `last_login_at` only: not announced either
    // (NOTIFY would serialize PostgreSQL's commits of every sign-in).
    sqlx::query("UPDATE users SET last_login_at = last_login_at + 10 WHERE id = $1")
        .bind(&user)
        .execute(&mut replicas.admin)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let hits = replicas.cache().hits();
    assert!(replicas
        .b
        .session_user(&family, &user, 0)
        .await
        .unwrap()
        .is_some());
    assert_eq!(replicas.cache().hits(), hits + 1, "the entry was dropped");

    let max = all.into_iter().max().unwrap_or_default();
    let _ = writeln!(
        std::io::stderr(),
        "session cache staleness, max over all: {max:?}"
    );
    assert!(
        max < BOUND,
        "a change took {max:?} to reach the other replica"
    );
    assert!(replicas.cache().listening());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_listener_a_replica_reads_the_database_and_recovers() {
    let Some(mut replicas) = Replicas::start().await else {
        return;
    };
    replicas.listening(1).await;
    let cache = replicas.cache();
    let (user, family) = replicas.session().await;
    let other = unique("f");
    replicas.family(&user, &other).await;
    replicas.warm(&user, &family).await;
    replicas.warm(&user, &other).await;

    // The listener's backend is terminated: the cache goes out of use.
    let pid = cache.listener_pid();
    assert_ne!(pid, 0);
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&mut replicas.admin)
        .await
        .unwrap();
    assert!(ended);
    let start = Instant::now();
    while cache.listening() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the loss went unseen"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let _ = writeln!(
        std::io::stderr(),
        "session cache: listener loss seen after {:?}",
        start.elapsed()
    );

    // A revocation while the channel is down is seen at once: B reads the database.
    replicas.a.end_session(&family).await.unwrap();
    let bypasses = cache.bypasses();
    assert!(replicas
        .b
        .session_user(&family, &user, 0)
        .await
        .unwrap()
        .is_none());
    assert!(replicas
        .b
        .session_user(&other, &user, 0)
        .await
        .unwrap()
        .is_some());
    assert!(cache.bypasses() >= bypasses + 2);

    // It reconnects (after its backoff), flushed, and the cache works again.
    let down = Instant::now();
    replicas.listening(2).await;
    let _ = writeln!(
        std::io::stderr(),
        "session cache: listener back after {:?}",
        down.elapsed()
    );
    assert_ne!(cache.listener_pid(), pid);
    replicas.warm(&user, &other).await;
    replicas.a.end_session(&other).await.unwrap();
    let took = replicas.staleness(&user, &other, |u| u.is_none()).await;
    let _ = writeln!(
        std::io::stderr(),
        "session cache staleness after the reconnect: {took:?}"
    );
    assert!(took < BOUND, "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_reads_its_own_writes_at_once() {
    let Some(mut replicas) = Replicas::start().await else {
        return;
    };
    replicas.listening(1).await;
    let (user, family) = replicas.session().await;
    replicas.warm(&user, &family).await;
    // B's own logout: refused on the very next read, notification or not.
    replicas.b.end_session(&family).await.unwrap();
    assert!(replicas
        .b
        .session_user(&family, &user, 0)
        .await
        .unwrap()
        .is_none());
    let other = unique("f");
    replicas.family(&user, &other).await;
    replicas.warm(&user, &other).await;
    replicas.b.erase_user(&user, 1_000).await.unwrap();
    assert!(replicas
        .b
        .session_user(&other, &user, 0)
        .await
        .unwrap()
        .is_none());
}
