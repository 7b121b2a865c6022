//! The delivery worker: leases due events from the outbox, POSTs each to
//! the endpoints that take its type and have not had it yet, and records
//! the outcome (delivered; or retried with backoff; or, after
//! [`GIVE_UP_AFTER_SECS`], failed).

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;

use super::signature::sign;
use crate::app::AppState;
use crate::config::WebhookEndpoint;
use crate::store::{EventState, OutboxEvent, StoreError};

/// Retries stop this long after the event (at least a day, as receivers'
/// outages can last a weekend night); the event is then marked failed.
pub const GIVE_UP_AFTER_SECS: i64 = 3 * 86_400;
/// The longest wait between two attempts.
const MAX_BACKOFF_SECS: i64 = 3_600;
/// How long a worker owns the events it leased (longer than an attempt at
/// every endpoint can take; past it, another replica may send it again).
const LEASE_SECS: i64 = 120;
/// Events leased per round.
const BATCH: i64 = 32;
/// An endpoint's answer is awaited this long.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Delivered and failed events are kept this long for `siwa webhooks list`.
const KEEP_FINISHED_SECS: i64 = 7 * 86_400;
/// How often finished events past [`KEEP_FINISHED_SECS`] are purged.
const PURGE_EVERY_SECS: i64 = 60;
/// The pause between rounds when nothing was due.
const IDLE_WAIT: Duration = Duration::from_millis(500);
/// The longest wait between two rounds while the database is unavailable.
const MAX_OUTAGE_WAIT: Duration = Duration::from_secs(60);

/// The HTTP client of deliveries: bounded, and never following redirects
/// (an endpoint answers itself, or the attempt fails).
fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!(
            "siwa-serve/",
            env!("CARGO_PKG_VERSION"),
            " (webhooks)"
        ))
        .build()
}

/// One round: every due event is tried once at each endpoint still owed it.
/// Returns how many events were leased (0: nothing was due).
pub async fn run_due(app: &AppState, http: &reqwest::Client) -> Result<usize, StoreError> {
    // A read first: an idle round takes no write lock (SQLite has one writer).
    let backlog = app.store.event_backlog().await?;
    app.metrics.set_webhook_backlog(backlog);
    if backlog == 0 {
        return Ok(0);
    }
    let events = app.store.lease_events(app.now(), BATCH, LEASE_SECS).await?;
    for event in &events {
        deliver(app, http, event).await?;
    }
    Ok(events.len())
}

/// Sends one event to each endpoint that takes it and has not had it, then
/// records what became of it.
async fn deliver(
    app: &AppState,
    http: &reqwest::Client,
    event: &OutboxEvent,
) -> Result<(), StoreError> {
    let reached = app.store.delivered_endpoints(event.seq).await?;
    let mut failures = Vec::new();
    for endpoint in app
        .settings
        .webhooks
        .iter()
        .filter(|e| e.takes(&event.kind))
    {
        if reached.contains(&endpoint.url) {
            continue;
        }
        match post(app, http, endpoint, event).await {
            Ok(()) => {
                app.store
                    .mark_delivered_to(event.seq, &endpoint.url, app.now())
                    .await?;
                app.metrics.webhook_delivery("delivered");
            }
            Err(problem) => {
                app.metrics.webhook_delivery("failed");
                tracing::warn!(event = %event.event_id, kind = %event.kind, endpoint = %endpoint.url, attempts = event.attempts + 1, error = %problem, "webhook delivery failed");
                failures.push(format!("{}: {problem}", endpoint.url));
            }
        }
    }
    let now = app.now();
    if failures.is_empty() {
        tracing::debug!(event = %event.event_id, kind = %event.kind, "webhook event delivered");
        return app
            .store
            .finish_event(event.seq, EventState::Delivered, now, None)
            .await;
    }
    let error = failures.join("; ");
    if now - event.created_at >= GIVE_UP_AFTER_SECS {
        app.metrics.webhook_delivery("gave_up");
        tracing::error!(event = %event.event_id, kind = %event.kind, attempts = event.attempts + 1, error = %error, "webhook event given up; `siwa webhooks retry` sends it again");
        return app
            .store
            .finish_event(event.seq, EventState::Failed, now, Some(&error))
            .await;
    }
    let wait = backoff(app.settings.webhook_retry_secs, event.attempts);
    app.store.retry_event(event.seq, now + wait, &error).await
}

/// The wait before attempt `attempts + 2`: the base, doubled per failure,
/// at most an hour.
fn backoff(base_secs: u64, attempts: i64) -> i64 {
    let base = i64::try_from(base_secs).unwrap_or(10).max(1);
    let exponent = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    base.saturating_mul(2i64.saturating_pow(exponent))
        .min(MAX_BACKOFF_SECS)
}

/// POSTs one signed attempt; a 2xx answer is a delivery.
async fn post(
    app: &AppState,
    http: &reqwest::Client,
    endpoint: &WebhookEndpoint,
    event: &OutboxEvent,
) -> Result<(), String> {
    let headers = sign(&endpoint.key, &event.event_id, app.now(), &event.body);
    let response = http
        .post(&endpoint.url)
        .header(CONTENT_TYPE, "application/json")
        .header("webhook-id", &headers.id)
        .header("webhook-timestamp", &headers.timestamp)
        .header("webhook-signature", &headers.signature)
        .body(event.body.clone())
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())
            } else if e.is_connect() {
                "cannot connect".to_owned()
            } else {
                "the request failed".to_owned()
            }
        })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered HTTP {}", status.as_u16()))
    }
}

/// Runs rounds until the service stops: at once again after a round that
/// had work, after a short pause otherwise; while the database is
/// unavailable, the pause doubles up to a minute.
pub fn spawn_worker(app: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Never a client without the bounds above: no deliveries rather than unbounded ones.
        let http = match client() {
            Ok(http) => http,
            Err(e) => {
                tracing::error!(error = %e, "webhooks not delivered: the HTTP client cannot be built; events wait in the outbox");
                return;
            }
        };
        let mut wait = IDLE_WAIT;
        let mut next_purge = 0;
        loop {
            let now = app.now();
            if now >= next_purge {
                next_purge = now + PURGE_EVERY_SECS;
                if let Err(e) = app.store.purge_events(now - KEEP_FINISHED_SECS).await {
                    tracing::warn!(error = %e, "cannot purge delivered webhook events");
                }
            }
            wait = match run_due(&app, &http).await {
                Ok(0) => IDLE_WAIT,
                Ok(_) => Duration::ZERO,
                Err(e) if e.outage().is_some() => (wait * 2).clamp(IDLE_WAIT, MAX_OUTAGE_WAIT),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the webhooks' outbox");
                    IDLE_WAIT
                }
            };
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_an_hour() {
        assert_eq!(backoff(10, 0), 10);
        assert_eq!(backoff(10, 1), 20);
        assert_eq!(backoff(10, 3), 80);
        assert_eq!(backoff(10, 12), 3_600);
        assert_eq!(backoff(10, i64::MAX), 3_600);
        // Over three days of hourly attempts at the cap: well over a day of retries.
        let attempts_before_giving_up = (0..)
            .scan(0i64, |elapsed, n| {
                *elapsed += backoff(10, n);
                (*elapsed < GIVE_UP_AFTER_SECS).then_some(n)
            })
            .count();
        assert!(
            attempts_before_giving_up > 24,
            "{attempts_before_giving_up}"
        );
    }
}
