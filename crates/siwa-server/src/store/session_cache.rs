//! The per-process cache of [`Store::session_user`]: the user and the
//! creation time of each of their active sessions, so that an authenticated
//! request (`GET /me`) costs no read of the database.
//!
//! It is only as good as its invalidation, which comes from the database:
//! row triggers on `users` and `session_families` announce the user's id on
//! every change that `session_user` could see, whoever made it (this
//! process, another replica, a maintenance statement, a cascade), and the
//! backend's follower drops that user's entry here:
//!
//! - PostgreSQL: the triggers `pg_notify` (migration
//!   `20261208000000_session_cache.sql`), `postgres/listener.rs` listens;
//! - SQLite: the triggers append to the `session_changes` log (migration of
//!   the same name), `sqlite/change_feed.rs` reads it after each of this
//!   process's commits and every few milliseconds for other processes'.
//!
//! So:
//!
//! - entries are per user: any change to the user or to any of their session
//!   families drops the user's entry (all of their sessions), which is never
//!   wrong, only sometimes a miss more than needed;
//! - only active sessions are kept (a session found revoked or absent is
//!   asked of the database each time), and `created_after` (the sessions'
//!   absolute lifetime) is judged on every lookup from the kept `created_at`;
//! - while the follower is not following (before it first connects, after
//!   it lost its connection), every lookup is a bypass to the database and
//!   nothing is kept; it is flushed when it goes down and again when it
//!   reconnects, since notifications may have been missed in between;
//! - a read that started before an invalidation cannot keep its (older)
//!   result after it: each shard has a generation, bumped with every
//!   invalidation or flush under the shard's lock, and a fill takes a
//!   [`Ticket`] (the generation) *before* its database read and keeps its
//!   result only when the generation is still the same;
//! - memory is bounded (a least-recently-used map per shard, a few sessions
//!   per user), and an entry older than `max_age` is read again, whatever
//!   the notifications said (a listener whose connection stalls silently).
//!
//! [`Store::session_user`]: super::Store::session_user

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hashlink::LruCache;

use super::User;

/// Users kept per replica (all shards together).
pub(in crate::store) const CAPACITY: usize = 65_536;
/// The longest an entry is believed without being read again.
pub(in crate::store) const MAX_AGE: Duration = Duration::from_secs(30);
/// Sessions kept per user (the least recently filled goes first).
const FAMILIES_PER_USER: usize = 8;
/// Shards, each with its own lock and generation.
const SHARDS: usize = 16;

/// What the cache did, for `/metrics` and tests. Shared with the listener.
#[derive(Debug, Default)]
pub struct SessionCacheStats {
    hits: AtomicU64,
    misses: AtomicU64,
    bypasses: AtomicU64,
    connects: AtomicU64,
    listening: AtomicBool,
    listener_pid: AtomicI32,
}

impl SessionCacheStats {
    /// Lookups answered from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups the cache could not answer (read from the database, then kept).
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Lookups made while the listener was not connected (straight to the database).
    pub fn bypasses(&self) -> u64 {
        self.bypasses.load(Ordering::Relaxed)
    }

    /// How many times the listener connected (1 after the first connection).
    pub fn connects(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }

    /// Whether the listener is connected, hence the cache in use.
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    /// The PostgreSQL backend pid of the listener's connection (0 before the first).
    pub fn listener_pid(&self) -> i32 {
        self.listener_pid.load(Ordering::Relaxed)
    }

    pub(in crate::store) fn set_listener_pid(&self, pid: i32) {
        self.listener_pid.store(pid, Ordering::Relaxed);
    }
}

/// The cache (see the module's documentation).
pub(in crate::store) struct SessionCache {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    max_age: Duration,
    stats: std::sync::Arc<SessionCacheStats>,
}

struct Shard {
    generation: u64,
    users: LruCache<String, Entry>,
}

struct Entry {
    user: User,
    /// When the read that gave `user` started.
    user_read_at: Instant,
    /// Active sessions: (family id, its created_at, when the read started).
    families: Vec<(String, i64, Instant)>,
}

/// A lookup's answer.
#[derive(Debug)]
pub(in crate::store) enum Lookup {
    /// From the cache: the user, or `None` for a session past its absolute lifetime.
    Hit(Option<User>),
    /// Read the database, then hand its answer to [`SessionCache::fill`] with
    /// this ticket (`None`: the cache is bypassed, keep nothing).
    Miss(Option<Ticket>),
}

/// Taken before a database read; a fill keeps its result only if its shard
/// saw no invalidation since.
#[derive(Debug)]
pub(in crate::store) struct Ticket {
    shard: usize,
    generation: u64,
    at: Instant,
}

impl SessionCache {
    pub(in crate::store) fn new(
        capacity: usize,
        max_age: Duration,
        stats: std::sync::Arc<SessionCacheStats>,
    ) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        generation: 0,
                        users: LruCache::new(per_shard),
                    })
                })
                .collect(),
            hasher: RandomState::new(),
            max_age,
            stats,
        }
    }

    pub(in crate::store) fn stats(&self) -> &std::sync::Arc<SessionCacheStats> {
        &self.stats
    }

    /// The session `family_id` of `user_id`, as kept; judged against
    /// `created_after` now.
    pub(in crate::store) fn lookup(
        &self,
        family_id: &str,
        user_id: &str,
        created_after: i64,
    ) -> Lookup {
        if !self.stats.listening() {
            self.stats.bypasses.fetch_add(1, Ordering::Relaxed);
            return Lookup::Miss(None);
        }
        let index = self.shard_of(user_id);
        let mut shard = self.lock(index);
        let now = Instant::now();
        if let Some(entry) = shard.users.get(user_id) {
            let fresh = |read_at: Instant| now.saturating_duration_since(read_at) < self.max_age;
            let family = entry
                .families
                .iter()
                .find(|(id, _, read_at)| id == family_id && fresh(*read_at));
            if let Some((_, created_at, _)) = family {
                if fresh(entry.user_read_at) {
                    self.stats.hits.fetch_add(1, Ordering::Relaxed);
                    let user = (*created_at > created_after).then(|| entry.user.clone());
                    return Lookup::Hit(user);
                }
            }
        }
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        Lookup::Miss(Some(Ticket {
            shard: index,
            generation: shard.generation,
            at: now,
        }))
    }

    /// Keeps what a read begun with `ticket` found: `family_id` of `user` is
    /// active, created at `created_at`. Refused (`false`) when anything in
    /// the shard was invalidated since the ticket, or the listener is down.
    pub(in crate::store) fn fill(
        &self,
        ticket: Ticket,
        family_id: &str,
        user: &User,
        created_at: i64,
    ) -> bool {
        let mut shard = self.lock(ticket.shard);
        // Under the shard's lock: an invalidation either bumped the
        // generation before (refused here) or removes this entry after.
        if shard.generation != ticket.generation || !self.stats.listening() {
            return false;
        }
        if let Some(entry) = shard.users.get_mut(&user.id) {
            entry.user = user.clone();
            entry.user_read_at = ticket.at;
            entry.families.retain(|(id, _, _)| id != family_id);
            if entry.families.len() >= FAMILIES_PER_USER {
                if let Some(oldest) = entry
                    .families
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, (_, _, at))| *at)
                    .map(|(i, _)| i)
                {
                    entry.families.swap_remove(oldest);
                }
            }
            entry
                .families
                .push((family_id.to_owned(), created_at, ticket.at));
        } else {
            shard.users.insert(
                user.id.clone(),
                Entry {
                    user: user.clone(),
                    user_read_at: ticket.at,
                    families: vec![(family_id.to_owned(), created_at, ticket.at)],
                },
            );
        }
        true
    }

    /// Forgets a user and every session of theirs.
    pub(in crate::store) fn invalidate_user(&self, user_id: &str) {
        let mut shard = self.lock(self.shard_of(user_id));
        shard.generation = shard.generation.wrapping_add(1);
        shard.users.remove(user_id);
    }

    /// Forgets everything.
    pub(in crate::store) fn flush(&self) {
        for index in 0..self.shards.len() {
            let mut shard = self.lock(index);
            shard.generation = shard.generation.wrapping_add(1);
            shard.users.clear();
        }
    }

    /// The listener connected (after a flush: what was missed while it was
    /// down is gone) or lost its connection (flushed after: nothing is used
    /// or kept from now on).
    pub(in crate::store) fn set_listening(&self, listening: bool) {
        if listening {
            self.flush();
            self.stats.connects.fetch_add(1, Ordering::Relaxed);
            self.stats.listening.store(true, Ordering::SeqCst);
        } else {
            self.stats.listening.store(false, Ordering::SeqCst);
            self.flush();
        }
    }

    /// Users kept now.
    #[cfg(test)]
    fn len(&self) -> usize {
        (0..self.shards.len())
            .map(|i| self.lock(i).users.len())
            .sum()
    }

    fn shard_of(&self, user_id: &str) -> usize {
        let hash = self.hasher.hash_one(user_id);
        usize::try_from(hash % SHARDS as u64).unwrap_or(0)
    }

    fn lock(&self, index: usize) -> MutexGuard<'_, Shard> {
        // Nothing panics under these locks; a poisoned one is still consistent.
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCache")
            .field("max_age", &self.max_age)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn user(id: &str, email: &str) -> User {
        User {
            id: id.into(),
            email: Some(email.into()),
            email_verified: true,
            is_private_email: false,
            email_forwarding: true,
            first_name: None,
            last_name: None,
            real_user_status: None,
            created_at: 1,
            last_login_at: 1,
        }
    }

    fn listening(capacity: usize, max_age: Duration) -> SessionCache {
        let cache = SessionCache::new(capacity, max_age, Arc::default());
        cache.set_listening(true);
        cache
    }

    fn ticket(lookup: Lookup) -> Ticket {
        match lookup {
            Lookup::Miss(Some(ticket)) => ticket,
            other => panic!("expected a miss with a ticket, got {other:?}"),
        }
    }

    #[test]
    fn a_filled_session_is_a_hit_judged_against_its_lifetime_each_time() {
        let cache = listening(100, MAX_AGE);
        let t = ticket(cache.lookup("f1", "u1", 0));
        assert!(cache.fill(t, "f1", &user("u1", "a@example.com"), 100));
        match cache.lookup("f1", "u1", 50) {
            Lookup::Hit(Some(u)) => assert_eq!(u.email.as_deref(), Some("a@example.com")),
            other => panic!("{other:?}"),
        }
        // The same session, later: past its absolute lifetime, from the kept created_at.
        assert!(matches!(cache.lookup("f1", "u1", 100), Lookup::Hit(None)));
        // Another session of the user, or the session under another user: not kept.
        assert!(matches!(cache.lookup("f2", "u1", 0), Lookup::Miss(Some(_))));
        assert!(matches!(cache.lookup("f1", "u2", 0), Lookup::Miss(Some(_))));
        assert_eq!((cache.stats().hits(), cache.stats().misses()), (2, 3));
    }

    #[test]
    fn a_fill_that_straddles_an_invalidation_keeps_nothing() {
        let cache = listening(100, MAX_AGE);
        // A read begins (ticket), the session is revoked and the
        // notification handled, then the read's older answer arrives.
        let before = ticket(cache.lookup("f1", "u1", 0));
        cache.invalidate_user("u1");
        assert!(!cache.fill(before, "f1", &user("u1", "old@example.com"), 100));
        assert!(matches!(cache.lookup("f1", "u1", 0), Lookup::Miss(Some(_))));
        assert_eq!(cache.len(), 0);

        // Two reads straddling one invalidation: only the one begun after it keeps its answer.
        let old = ticket(cache.lookup("f1", "u1", 0));
        cache.invalidate_user("u1");
        let new = ticket(cache.lookup("f1", "u1", 0));
        assert!(cache.fill(new, "f1", &user("u1", "new@example.com"), 100));
        assert!(!cache.fill(old, "f1", &user("u1", "old@example.com"), 100));
        match cache.lookup("f1", "u1", 0) {
            Lookup::Hit(Some(u)) => assert_eq!(u.email.as_deref(), Some("new@example.com")),
            other => panic!("{other:?}"),
        }

        // A flush (the listener reconnected) also refuses reads begun before it.
        let before = ticket(cache.lookup("f2", "u2", 0));
        cache.flush();
        assert!(!cache.fill(before, "f2", &user("u2", "b@example.com"), 100));
    }

    #[test]
    fn a_fill_that_straddles_an_invalidation_keeps_nothing_under_threads() {
        // Readers fill what they read while a writer changes the email and
        // invalidates; whatever the interleaving, once the writer is done
        // the cache never answers an email older than the last written.
        let cache = Arc::new(listening(100, MAX_AGE));
        let version = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (cache, version, stop) =
                    (Arc::clone(&cache), Arc::clone(&version), Arc::clone(&stop));
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        if let Lookup::Miss(Some(t)) = cache.lookup("f1", "u1", 0) {
                            // "The database read": the version as of now,
                            // answered a moment later.
                            let seen = version.load(Ordering::SeqCst);
                            std::thread::sleep(Duration::from_micros(20));
                            cache.fill(t, "f1", &user("u1", &format!("v{seen}")), 100);
                        }
                    }
                })
            })
            .collect();
        for v in 1..=200u64 {
            // "The write commits", then "its notification is handled".
            version.store(v, Ordering::SeqCst);
            cache.invalidate_user("u1");
            // Reads straddling the invalidation finish meanwhile.
            for _ in 0..5 {
                std::thread::sleep(Duration::from_micros(10));
                if let Lookup::Hit(Some(u)) = cache.lookup("f1", "u1", 0) {
                    let seen: u64 = u.email.unwrap()[1..].parse().unwrap();
                    assert!(seen >= v, "stale entry v{seen} after write v{v}");
                }
            }
        }
        stop.store(true, Ordering::SeqCst);
        for reader in readers {
            reader.join().unwrap();
        }
    }

    #[test]
    fn nothing_is_used_or_kept_while_the_listener_is_down() {
        let cache = SessionCache::new(100, MAX_AGE, Arc::default());
        // Before the first connection: bypass.
        assert!(matches!(cache.lookup("f1", "u1", 0), Lookup::Miss(None)));
        cache.set_listening(true);
        let t = ticket(cache.lookup("f1", "u1", 0));
        assert!(cache.fill(t, "f1", &user("u1", "a@example.com"), 100));
        // A read begun before the connection was lost keeps nothing.
        let t = ticket(cache.lookup("f2", "u1", 0));
        cache.set_listening(false);
        assert!(matches!(cache.lookup("f1", "u1", 0), Lookup::Miss(None)));
        assert!(!cache.fill(t, "f2", &user("u1", "a@example.com"), 100));
        assert_eq!(cache.len(), 0);
        // Reconnected: empty, then used again.
        cache.set_listening(true);
        assert!(matches!(cache.lookup("f1", "u1", 0), Lookup::Miss(Some(_))));
        assert_eq!(cache.stats().bypasses(), 2);
        assert_eq!(cache.stats().connects(), 2);
    }

    #[test]
    fn entries_expire_and_memory_is_bounded() {
        let cache = listening(100, Duration::ZERO);
        let t = ticket(cache.lookup("f1", "u1", 0));
        assert!(cache.fill(t, "f1", &user("u1", "a@example.com"), 100));
        assert!(matches!(cache.lookup("f1", "u1", 0), Lookup::Miss(Some(_))));

        let cache = listening(SHARDS * 2, MAX_AGE);
        for i in 0..1_000 {
            let id = format!("u{i}");
            let t = ticket(cache.lookup("f", &id, 0));
            assert!(cache.fill(t, "f", &user(&id, "a@example.com"), 100));
        }
        assert!(cache.len() <= SHARDS * 2, "{}", cache.len());
        for i in 0..100 {
            let family = format!("f{i}");
            let t = ticket(cache.lookup(&family, "u1", 0));
            assert!(cache.fill(t, &family, &user("u1", "a@example.com"), 100));
        }
        let kept = cache
            .lock(cache.shard_of("u1"))
            .users
            .get("u1")
            .unwrap()
            .families
            .len();
        assert_eq!(kept, FAMILIES_PER_USER);
        assert!(matches!(cache.lookup("f99", "u1", 0), Lookup::Hit(Some(_))));
    }
}
