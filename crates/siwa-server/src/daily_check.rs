//! The daily check with Apple (reconciliation): each stored Apple refresh
//! token is validated at Apple's token endpoint at most once per
//! `reconcile_interval` (Apple asks for no more than once a day), spread
//! evenly over the interval and rate limited. `invalid_grant` means the user
//! revoked the app at Apple: the same effect as a consent-revoked
//! notification (sessions end, the token is forgotten, `user.consent_revoked`
//! goes out), for the notification that Apple may never have delivered.

use std::sync::Arc;
use std::time::Duration;

use siwa_kit::client::{AppleErrorCode, ClientError, RefreshToken};

use crate::app::AppState;
use crate::keys::Sealed;
use crate::store::{AppleToken, Notification, NotificationEffect, NotificationSource, StoreError};

/// Rounds per interval: the interval's work is split into this many rounds.
const ROUNDS_PER_INTERVAL: u64 = 100;
/// Bounds of a round's length.
const MIN_ROUND: Duration = Duration::from_secs(1);
const MAX_ROUND: Duration = Duration::from_secs(60);
/// A token whose check failed (Apple unreachable, a 5xx) is tried again
/// after this long, not a whole interval later.
const RETRY_FAILED_SECS: i64 = 3_600;
/// How long the synthetic event id of a revocation found is remembered.
const REVOCATION_ID_KEPT_SECS: i64 = 86_400;

/// What one check found.
#[derive(Debug, Eq, PartialEq)]
enum Verdict {
    /// Apple accepted the token: the user still authorizes the app.
    Authorized,
    /// `invalid_grant`: the user revoked the app.
    Revoked,
    /// No verdict (Apple unreachable, another error, an unreadable token).
    Failed(String),
}

/// How long a round lasts for an interval.
fn round_length(interval_secs: u64) -> Duration {
    Duration::from_secs(interval_secs / ROUNDS_PER_INTERVAL).clamp(MIN_ROUND, MAX_ROUND)
}

/// How many tokens a round checks: its share of all tokens (so that a whole
/// interval checks each once, evenly), at least one when any is due, and
/// never more than the rate limit allows.
fn round_quota(total: i64, due: i64, round: Duration, interval_secs: u64, per_second: u32) -> i64 {
    if due <= 0 {
        return 0;
    }
    let round_secs = i64::try_from(round.as_secs()).unwrap_or(60).max(1);
    let interval = i64::try_from(interval_secs).unwrap_or(i64::MAX).max(1);
    let share = (total.saturating_mul(round_secs) + interval - 1) / interval;
    let cap = i64::from(per_second).saturating_mul(round_secs);
    share.clamp(1, cap.max(1)).min(due)
}

/// One round: the round's quota of due tokens, each checked once. Returns how many were checked.
pub async fn run_round(app: &AppState, round: Duration) -> Result<usize, StoreError> {
    let interval = app.settings.reconcile_interval;
    let now = app.now();
    let due_before = now - i64::try_from(interval).unwrap_or(i64::MAX);
    let (total, due) = app.store.token_check_counts(due_before).await?;
    app.metrics.set_reconcile_due(due);
    let quota = round_quota(
        total,
        due,
        round,
        interval,
        app.settings.reconcile_per_second,
    );
    let tokens = app.store.take_token_checks(due_before, quota, now).await?;
    for token in &tokens {
        match check(app, token).await {
            Verdict::Authorized => app.metrics.reconcile_checked("authorized"),
            Verdict::Revoked => {
                app.metrics.reconcile_checked("revoked");
                revoke(app, token).await?;
            }
            Verdict::Failed(problem) => {
                app.metrics.reconcile_checked("failed");
                tracing::warn!(client = %token.client_id, error = %problem, "daily check with Apple failed; tried again within the hour");
                // Counted as checked long enough ago that it comes due again in an hour.
                let again = app.now() + RETRY_FAILED_SECS - i64::try_from(interval).unwrap_or(0);
                app.store.reschedule_token_check(token, again).await?;
            }
        }
    }
    Ok(tokens.len())
}

/// Validates one token at Apple.
async fn check(app: &AppState, token: &AppleToken) -> Verdict {
    let owner = Sealed::AppleToken {
        team_id: &token.team_id,
        sub: &token.sub,
        client_id: &token.client_id,
    };
    let Some(plain) = app.keys.open(&token.ciphertext, &owner) else {
        return Verdict::Failed(
            "the stored Apple token cannot be decrypted with the configured encryption_key".into(),
        );
    };
    let Some(apple) = app.apple_for(&token.client_id) else {
        return Verdict::Failed(format!(
            "no Apple client for {} in the configuration",
            token.client_id
        ));
    };
    match apple.refresh(&RefreshToken::new(plain.as_str())).await {
        Ok(_) => Verdict::Authorized,
        Err(e) if is_revoked(&e) => Verdict::Revoked,
        Err(e) => Verdict::Failed(e.to_string()),
    }
}

/// Apple's answer for a refresh token the user revoked.
fn is_revoked(error: &ClientError) -> bool {
    matches!(error.apple_code(), Some(AppleErrorCode::InvalidGrant))
}

/// Applies what a consent-revoked notification would have.
async fn revoke(app: &AppState, token: &AppleToken) -> Result<(), StoreError> {
    let now = app.now();
    tracing::info!(client = %token.client_id, "daily check: the user revoked the app at Apple");
    app.store
        .apply_notification(&Notification {
            jti: format!("daily-check:{}:{}:{now}", token.team_id, token.sub),
            expires_at: now + REVOCATION_ID_KEPT_SECS,
            team_id: token.team_id.clone(),
            sub: token.sub.clone(),
            effect: NotificationEffect::ConsentRevoked,
            now,
            source: NotificationSource::DailyCheck,
        })
        .await
        .map(|_| ())
}

/// Runs rounds until the service stops (nothing when `reconcile_interval` is 0).
pub fn spawn_worker(app: Arc<AppState>) -> Option<tokio::task::JoinHandle<()>> {
    if app.settings.reconcile_interval == 0 {
        tracing::info!("the daily check with Apple is off (reconcile_interval = 0)");
        return None;
    }
    Some(tokio::spawn(async move {
        let round = round_length(app.settings.reconcile_interval);
        let mut wait = round;
        loop {
            tokio::time::sleep(wait).await;
            wait = match run_round(&app, round).await {
                Ok(_) => round,
                Err(e) if e.outage().is_some() => (wait * 2).min(MAX_ROUND.max(round)),
                Err(e) => {
                    tracing::error!(error = %e, "the daily check with Apple cannot read the store");
                    round
                }
            };
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_split_the_interval_and_respect_the_rate() {
        assert_eq!(round_length(86_400), Duration::from_secs(60));
        assert_eq!(round_length(2), Duration::from_secs(1));
        let day = 86_400;
        let minute = Duration::from_secs(60);
        // 144,000 tokens a day: 100 a minute, each once a day.
        assert_eq!(round_quota(144_000, 144_000, minute, day, 5), 100);
        // The rate limit caps a round (5/s is 300 a minute).
        assert_eq!(round_quota(10_000_000, 10_000_000, minute, day, 5), 300);
        // A few tokens: one per round, never more than are due, none when none are.
        assert_eq!(round_quota(3, 3, minute, day, 5), 1);
        assert_eq!(round_quota(3, 0, minute, day, 5), 0);
        assert_eq!(round_quota(50, 2, Duration::from_secs(1), 2, 100), 2);
    }
}
