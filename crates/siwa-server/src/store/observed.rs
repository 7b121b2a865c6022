//! The store as the service uses it: every call bounded in time, and every
//! outage (see [`Outage`]) logged once, when it begins, with what to do about
//! it, then once more when the database answers again; each failed call is
//! counted for `/metrics`. Reads and writes are watched apart: on a full disk
//! reads keep working while writes fail, and each side's outage is its own.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::outage::{Outage, OUTAGES};
use super::{
    AppleLink, AppleToken, DeletionJob, EventFilter, EventState, ExportedIdentity, Grant, Login,
    Name, NewLogin, NewOidcCode, NewSession, Notification, OidcCode, OutboxEvent, Redemption,
    Relink, Rotate, Rotation, Schema, SessionCacheStats, SignIn, SignInOutcome, Store, StoreError,
    StoreResult, TransferProgress, User,
};

/// The longest any store call may take before it counts as an outage. The
/// pool's acquire timeout (2 s) and SQLite's busy timeout (5 s) answer first;
/// this bounds what they do not cover (a server that stops answering mid-query).
pub const CALL_DEADLINE: Duration = Duration::from_secs(8);

/// A store whose calls are bounded, and whose outages are logged and counted.
pub(crate) struct Observed {
    inner: Arc<dyn Store>,
    health: Arc<StoreHealth>,
}

impl Observed {
    pub(crate) fn new(inner: Arc<dyn Store>, health: Arc<StoreHealth>) -> Self {
        Self { inner, health }
    }
}

/// What the service knows of its database's health.
#[derive(Debug)]
pub struct StoreHealth {
    /// The database, for messages: its file, or its URL with the password masked.
    place: String,
    reads_down: AtomicBool,
    writes_down: AtomicBool,
    /// Failed calls, per [`OUTAGES`] entry.
    failures: [AtomicU64; OUTAGES.len()],
}

/// Whether a call reads or writes.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Read,
    Write,
}

impl StoreHealth {
    /// The health of the database at `place` (a path, or a masked URL).
    pub fn new(place: impl Into<String>) -> Self {
        Self {
            place: place.into(),
            reads_down: AtomicBool::new(false),
            writes_down: AtomicBool::new(false),
            failures: Default::default(),
        }
    }

    /// Whether the last writes (or reads) failed for an outage.
    pub fn is_down(&self) -> bool {
        self.writes_down.load(Ordering::Relaxed) || self.reads_down.load(Ordering::Relaxed)
    }

    /// Failed calls so far, per outage.
    pub fn failures(&self) -> Vec<(Outage, u64)> {
        OUTAGES
            .iter()
            .zip(&self.failures)
            .map(|(outage, count)| (*outage, count.load(Ordering::Relaxed)))
            .collect()
    }

    fn record<T>(&self, kind: Kind, result: &StoreResult<T>) {
        let down = match kind {
            Kind::Read => &self.reads_down,
            Kind::Write => &self.writes_down,
        };
        match result {
            Ok(_) => {
                if down.swap(false, Ordering::AcqRel) {
                    tracing::warn!(?kind, place = %self.place, "the database answers again");
                }
            }
            Err(e) => {
                let Some(outage) = e.outage() else { return };
                if let Some(i) = OUTAGES.iter().position(|o| *o == outage) {
                    self.failures[i].fetch_add(1, Ordering::Relaxed);
                }
                if down.swap(true, Ordering::AcqRel) {
                    tracing::debug!(?kind, %outage, error = %e, "database still unavailable");
                } else {
                    tracing::error!(
                        ?kind,
                        %outage,
                        error = %e,
                        "database unavailable: {}",
                        outage.explain(&self.place)
                    );
                }
            }
        }
    }
}

/// Implements [`Store`] for [`Observed`]: each method bounded by
/// [`CALL_DEADLINE`] and recorded as a read or a write. The compiler checks
/// that every method of the trait is listed.
macro_rules! observe {
    ($($kind:ident fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        #[async_trait]
        impl Store for Observed {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> StoreResult<$ret> {
                    let result = tokio::time::timeout(CALL_DEADLINE, self.inner.$name($($arg),*))
                        .await
                        .unwrap_or(Err(StoreError::Timeout));
                    self.health.record(Kind::$kind, &result);
                    if let Some(outage) = result.as_ref().err().and_then(StoreError::outage) {
                        self.inner.note_outage(outage);
                    }
                    result
                }
            )*

            fn session_cache(&self) -> Option<Arc<SessionCacheStats>> {
                self.inner.session_cache()
            }
        }
    };
}

observe! {
    Write fn migrate(&self) -> ();
    Write fn ping(&self) -> ();
    Read fn schema(&self) -> Schema;
    Write fn put_login(&self, login: &NewLogin) -> ();
    Write fn take_login(&self, state_hash: &[u8], now: i64) -> Option<Login>;
    Write fn put_nonce(&self, nonce_hash: &[u8], now: i64, expires_at: i64) -> ();
    Write fn take_nonce(&self, nonce_hash: &[u8], now: i64) -> bool;
    Write fn keep_pending_name(&self, team_id: &str, sub: &str, name: &Name, now: i64) -> ();
    Read fn pending_name(&self, team_id: &str, sub: &str) -> Option<Name>;
    Read fn identity_token_spent(&self, token_hash: &[u8], now: i64) -> bool;
    Write fn complete_sign_in(&self, sign_in: &SignIn) -> SignInOutcome;
    Read fn user(&self, user_id: &str) -> Option<User>;
    Read fn apple_link(&self, team_id: &str, sub: &str) -> Option<AppleLink>;
    Read fn user_apple_tokens(&self, user_id: &str) -> Vec<AppleToken>;
    Write fn create_session(&self, session: &NewSession) -> ();
    Write fn rotate_session(&self, rotate: &Rotate) -> Rotation;
    Write fn rotate_session_with_user(&self, rotate: &Rotate) -> (Rotation, Option<User>);
    Read fn session_user(&self, family_id: &str, user_id: &str, created_after: i64) -> Option<User>;
    Write fn end_session(&self, family_id: &str) -> ();
    Write fn end_user_sessions(&self, user_id: &str) -> ();
    Write fn apply_notification(&self, notification: &Notification) -> bool;
    Write fn erase_user(&self, user_id: &str, now: i64) -> ();
    Write fn enqueue_deletion(&self, user_id: &str, token: &AppleToken, now: i64) -> ();
    Write fn due_deletions(&self, now: i64, limit: i64, lease_secs: i64) -> Vec<DeletionJob>;
    Write fn retry_deletion(&self, job_id: i64, next_at: i64, error: &str) -> ();
    Write fn finish_deletion(&self, job_id: i64, now: i64) -> ();
    Read fn pending_deletions(&self) -> i64;
    Read fn identities_to_export(&self, team_id: &str, target: &str, after: &str, limit: i64) -> Vec<String>;
    Read fn export_progress(&self, team_id: &str, target: &str) -> TransferProgress;
    Write fn set_transfer_sub(&self, team_id: &str, sub: &str, target: &str, transfer_sub: &str) -> ();
    Read fn identities_to_import(&self, target: &str, after: &str, limit: i64) -> Vec<ExportedIdentity>;
    Read fn import_progress(&self, target: &str) -> TransferProgress;
    Write fn relink_identity(&self, transfer_sub: &str, team_id: &str, sub: &str, relay_email: Option<&str>) -> Relink;
    Write fn put_oidc_code(&self, code: &NewOidcCode) -> ();
    Read fn oidc_code(&self, code_hash: &[u8]) -> Option<OidcCode>;
    Write fn redeem_oidc_code(&self, code_hash: &[u8], now: i64, grant: &NewSession) -> Redemption;
    Write fn spoil_oidc_code(&self, code_hash: &[u8]) -> ();
    Read fn grant(&self, family_id: &str) -> Option<Grant>;
    Read fn grant_of_refresh_token(&self, token_hash: &[u8]) -> Option<Grant>;
    Write fn lease_events(&self, now: i64, limit: i64, lease_secs: i64) -> Vec<OutboxEvent>;
    Read fn delivered_endpoints(&self, seq: i64) -> Vec<String>;
    Write fn mark_delivered_to(&self, seq: i64, endpoint: &str, now: i64) -> ();
    Write fn finish_event(&self, seq: i64, state: EventState, now: i64, error: Option<&str>) -> ();
    Write fn retry_event(&self, seq: i64, next_at: i64, error: &str) -> ();
    Read fn list_events(&self, filter: &EventFilter) -> Vec<OutboxEvent>;
    Read fn event(&self, event_id: &str) -> Option<OutboxEvent>;
    Write fn requeue_event(&self, event_id: &str, now: i64) -> bool;
    Read fn event_backlog(&self) -> i64;
    Write fn purge_events(&self, before: i64) -> ();
    Write fn take_token_checks(&self, due_before: i64, limit: i64, now: i64) -> Vec<AppleToken>;
    Read fn token_check_counts(&self, due_before: i64) -> (i64, i64);
    Write fn reschedule_token_check(&self, token: &AppleToken, checked_at: i64) -> ();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_counted_and_reads_and_writes_watched_apart() {
        let health = StoreHealth::new("/data/siwa.db");
        let full = || -> StoreResult<()> { Err(StoreError::Timeout) };
        health.record(Kind::Write, &full());
        health.record(Kind::Write, &full());
        assert!(health.is_down());
        // A read that works does not end the writes' outage.
        health.record(Kind::Read, &Ok(()));
        assert!(health.is_down());
        health.record(Kind::Write, &Ok(()));
        assert!(!health.is_down());
        let timeouts = health
            .failures()
            .into_iter()
            .find(|(o, _)| *o == Outage::Timeout)
            .map(|(_, n)| n);
        assert_eq!(timeouts, Some(2));
        // A failure that is no outage (a bug, a conflict) is neither counted nor a down state.
        health.record(Kind::Write, &Err::<(), _>(StoreError::Conflict));
        assert!(!health.is_down());
        assert_eq!(health.failures().iter().map(|(_, n)| n).sum::<u64>(), 2);
    }
}
