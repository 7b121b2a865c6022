//! `GET /readyz?deep=1`: the cheap subset of `siwa doctor --config`, run by
//! the service on itself. Each check says what it found:
//!
//! - `database`: the database takes a write and every migration of this
//!   build is applied, unchanged;
//! - `service_keys`: the session key signs and the encryption key seals and
//!   opens;
//! - `client_secret`: a client secret can be minted for every client id and
//!   has time left;
//! - `apple_keys`: Apple's signing keys in the cache (informational: they are
//!   fetched at the first sign-in, never by this route).
//!
//! The route is unauthenticated, so it must not let anyone make the service
//! call out or work hard per request: nothing here calls Apple, the verdict is
//! computed by one caller at a time and reused for [`DEEP_READY_FOR`], and the
//! database part is bounded by [`PROBE_BOUND`]. Messages are fixed phrases and
//! counts (the causes go to the log), never an error's text.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use utoipa::ToSchema;

use super::PROBE_BOUND;
use crate::app::AppState;
use crate::keys::Sealed;
use crate::store::{Schema, StoreError};

/// How long a deep verdict is reused.
const DEEP_READY_FOR: Duration = Duration::from_secs(5);
/// The least life a client secret must have left to count as usable.
const SECRET_MARGIN_SECS: u64 = 60;

/// The answer of `/readyz?deep=1`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct DeepReport {
    /// Every check is ok.
    pub(crate) ready: bool,
    /// The checks, in a fixed order.
    pub(crate) checks: Vec<DeepCheck>,
}

/// One check of `/readyz?deep=1`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct DeepCheck {
    /// `database`, `service_keys`, `client_secret` or `apple_keys`.
    id: &'static str,
    ok: bool,
    /// What was found (no secrets, no error texts).
    message: String,
}

/// The deep verdict, computed by one request at a time and reused for [`DEEP_READY_FOR`].
#[derive(Debug, Default)]
pub(crate) struct DeepReadiness {
    last: tokio::sync::Mutex<Option<(Instant, Arc<DeepReport>)>>,
}

impl DeepReadiness {
    /// The remembered verdict, or a new one. Concurrent callers wait for the
    /// one computing it (at most about [`PROBE_BOUND`]) and share its answer.
    pub(crate) async fn verdict(&self, app: &AppState) -> Arc<DeepReport> {
        let mut last = self.last.lock().await;
        if let Some((at, report)) = last.as_ref() {
            if at.elapsed() < DEEP_READY_FOR {
                return Arc::clone(report);
            }
        }
        let report = Arc::new(examine(app).await);
        *last = Some((Instant::now(), Arc::clone(&report)));
        report
    }
}

async fn examine(app: &AppState) -> DeepReport {
    let checks = vec![
        database(app).await,
        service_keys(app),
        client_secret(app),
        apple_keys(app),
    ];
    DeepReport {
        ready: checks.iter().all(|c| c.ok),
        checks,
    }
}

async fn database(app: &AppState) -> DeepCheck {
    let probe = async {
        app.store.ping().await?;
        app.store.schema().await
    };
    let check = |ok, message: String| DeepCheck {
        id: "database",
        ok,
        message,
    };
    match tokio::time::timeout(PROBE_BOUND, probe).await {
        Ok(Ok(schema)) => schema_check(&schema, check),
        Ok(Err(e)) => {
            log_failure(&e);
            let kind = e.outage().map_or("an error", |o| o.label());
            check(
                false,
                format!("the database did not take a write ({kind}; the log says more)"),
            )
        }
        Err(_) => check(
            false,
            format!(
                "the database did not answer within {} ms",
                PROBE_BOUND.as_millis()
            ),
        ),
    }
}

fn schema_check(schema: &Schema, check: impl Fn(bool, String) -> DeepCheck) -> DeepCheck {
    let newer = if schema.unknown.is_empty() {
        String::new()
    } else {
        format!(
            ", and {} newer migration(s) of a later siwa",
            schema.unknown.len()
        )
    };
    if !schema.modified.is_empty() || !schema.failed.is_empty() {
        return check(
            false,
            format!(
                "migrations changed after they ran: {:?}, failed half-way: {:?}",
                schema.modified, schema.failed
            ),
        );
    }
    if !schema.is_current() {
        return check(
            false,
            format!(
                "{} of this build's {} migrations are not applied: {}",
                schema.pending.len(),
                schema.known,
                schema.pending.join(", ")
            ),
        );
    }
    check(
        true,
        format!(
            "takes a write; all {} migrations of this build applied{newer}",
            schema.known
        ),
    )
}

fn log_failure(e: &StoreError) {
    // The observed store logs an outage once; anything else is logged here.
    if e.outage().is_none() {
        tracing::error!(error = %e, "deep readiness: the database check failed");
    }
}

fn service_keys(app: &AppState) -> DeepCheck {
    let signs = app.keys.session().sign_es256(PROBE_MESSAGE).is_ok();
    let seals = app
        .keys
        .seal("readiness", &Sealed::ReadinessProbe)
        .and_then(|sealed| app.keys.open(&sealed, &Sealed::ReadinessProbe))
        .is_some_and(|opened| opened.as_str() == "readiness");
    let message = match (signs, seals) {
        (true, true) => "the session key signs; the encryption key seals and opens",
        (false, _) => "the session key does not sign",
        (true, false) => "the encryption key does not seal and open",
    };
    DeepCheck {
        id: "service_keys",
        ok: signs && seals,
        message: message.to_owned(),
    }
}

fn client_secret(app: &AppState) -> DeepCheck {
    let now = app.clock.now();
    let mut least_left = u64::MAX;
    for cache in &app.secrets {
        let left = cache
            .current()
            .map(|s| s.expires_at().secs().saturating_sub(now.secs()));
        match left {
            Ok(left) if left >= SECRET_MARGIN_SECS => least_left = least_left.min(left),
            Ok(left) => {
                return DeepCheck {
                    id: "client_secret",
                    ok: false,
                    message: format!(
                        "the client secret of {} has {left} s left",
                        cache.client_id()
                    ),
                }
            }
            Err(e) => {
                tracing::error!(client_id = %cache.client_id(), error = %e, "deep readiness: no client secret");
                return DeepCheck {
                    id: "client_secret",
                    ok: false,
                    message: format!("no client secret can be signed for {}", cache.client_id()),
                };
            }
        }
    }
    DeepCheck {
        id: "client_secret",
        ok: true,
        message: format!(
            "a client secret for each of {} client id(s), the soonest valid {least_left} s more",
            app.secrets.len()
        ),
    }
}

fn apple_keys(app: &AppState) -> DeepCheck {
    let kids = app.web_verifier.keys().kids().len();
    let message = if kids == 0 {
        "Apple's signing keys are not fetched yet: the first sign-in fetches them (this route never calls Apple)".to_owned()
    } else {
        format!("{kids} Apple signing key(s) cached")
    };
    DeepCheck {
        id: "apple_keys",
        ok: true,
        message,
    }
}

/// What the session key signs to show it can.
const PROBE_MESSAGE: &[u8] = b"siwa readiness probe";
