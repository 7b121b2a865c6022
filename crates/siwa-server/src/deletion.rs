//! Account deletion (`DELETE /me`): revoke every Apple refresh token held for
//! the user (each identity, each client id) at `/auth/revoke` (the App Store
//! rule), then erase. A revoke that fails is queued; a worker retries queued
//! jobs with growing delays, and the user is erased with their last job.
//! Nothing is dropped silently.

use std::sync::Arc;
use std::time::Duration;

use siwa_kit::client::RefreshToken;

use crate::app::AppState;
use crate::keys::Sealed;
use crate::metrics::Metrics;
use crate::store::{AppleToken, StoreError};

/// Longest wait between two attempts of one job.
const MAX_BACKOFF_SECS: i64 = 3_600;
/// How long a worker owns a job it took.
const LEASE_SECS: i64 = 120;
/// Jobs taken per round.
const BATCH: i64 = 16;

/// Deletes a user's account: each Apple token revoked (or its revoke queued),
/// then the account erased, or, while a revoke waits, its sessions ended.
pub(crate) async fn delete_account(app: &AppState, user_id: &str) -> Result<(), StoreError> {
    let tokens = app.store.user_apple_tokens(user_id).await?;
    let mut queued = false;
    for token in &tokens {
        if let Err(e) = revoke_at_apple(app, token).await {
            tracing::warn!(user = %user_id, client = %token.client_id, error = %e, "Apple revoke failed; deletion queued");
            app.store
                .enqueue_deletion(user_id, token, app.now())
                .await?;
            Metrics::inc(&app.metrics.deletions_queued);
            queued = true;
        }
    }
    if queued {
        app.store.end_user_sessions(user_id).await?;
    } else {
        app.store.erase_user(user_id, app.now()).await?;
        Metrics::inc(&app.metrics.deletions_completed);
        tracing::info!(user = %user_id, revoked = tokens.len(), "account erased");
    }
    Ok(())
}

/// Revokes one sealed Apple refresh token at Apple.
pub(crate) async fn revoke_at_apple(app: &AppState, token: &AppleToken) -> Result<(), String> {
    let owner = Sealed::AppleToken {
        team_id: &token.team_id,
        sub: &token.sub,
        client_id: &token.client_id,
    };
    let plain = app.keys.open(&token.ciphertext, &owner).ok_or(
        "the stored Apple token cannot be decrypted with the configured encryption_key (or was moved from another row)",
    )?;
    let apple = app
        .apple_for(&token.client_id)
        .ok_or_else(|| format!("no Apple client for {}", token.client_id))?;
    let refresh = RefreshToken::new(plain.as_str());
    apple.revoke(&refresh).await.map_err(|e| e.to_string())
}

/// One round: every due job is tried once. Returns how many finished, or
/// the store's failure when the queue cannot be read.
pub async fn run_due(app: &AppState) -> Result<usize, StoreError> {
    let now = app.now();
    let jobs = app.store.due_deletions(now, BATCH, LEASE_SECS).await?;
    let mut finished = 0;
    for job in jobs {
        match revoke_at_apple(app, &job.token).await {
            Ok(()) => match app.store.finish_deletion(job.id, now).await {
                Ok(()) => {
                    finished += 1;
                    Metrics::inc(&app.metrics.deletions_completed);
                    tracing::info!(user = %job.user_id, attempts = job.attempts + 1, "queued account deletion completed");
                }
                Err(e) => tracing::error!(job = job.id, error = %e, "cannot finish a deletion"),
            },
            Err(e) => {
                let base = i64::try_from(app.settings.deletion_retry_secs).unwrap_or(30);
                let exponent = u32::try_from(job.attempts.clamp(0, 16)).unwrap_or(16);
                let wait = base
                    .saturating_mul(2i64.saturating_pow(exponent))
                    .min(MAX_BACKOFF_SECS);
                tracing::warn!(job = job.id, attempts = job.attempts + 1, retry_in = wait, error = %e, "deletion still waiting for Apple");
                if let Err(e) = app.store.retry_deletion(job.id, now + wait, &e).await {
                    tracing::error!(job = job.id, error = %e, "cannot reschedule a deletion");
                }
            }
        }
    }
    Ok(finished)
}

/// Runs rounds forever, every `deletion_retry_secs`; while the database is
/// unavailable, the wait doubles up to a minute (the store logs
/// the outage once, not every round).
pub fn spawn_worker(app: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = Duration::from_secs(app.settings.deletion_retry_secs);
        let mut wait = period;
        loop {
            tokio::time::sleep(wait).await;
            wait = match run_due(&app).await {
                Ok(_) => period,
                Err(e) if e.outage().is_some() => (wait * 2).min(MAX_OUTAGE_WAIT.max(period)),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the deletion queue");
                    period
                }
            };
        }
    })
}

/// The longest wait between two rounds while the database is unavailable.
const MAX_OUTAGE_WAIT: Duration = Duration::from_secs(60);
