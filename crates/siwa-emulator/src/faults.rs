//! Fault injection: the next `count` calls of a route fail or stall.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::App;

/// Longest stall a fault may ask for.
const MAX_DELAY_MS: u64 = 120_000;

/// A fault as posted to `/emulator/faults`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Fault {
    /// `/auth/token`, `/auth/keys`, ... (matches both API families) or an exact path.
    pub(crate) route: String,
    /// Answer with this status instead of the real answer.
    #[serde(default)]
    pub(crate) status: Option<u16>,
    /// Wait this long first.
    #[serde(default)]
    pub(crate) delay_ms: Option<u64>,
    /// How many calls it affects (default 1).
    #[serde(default = "one")]
    pub(crate) count: u32,
    /// The body to answer with (garbage, an empty key set...); with no status, 200.
    #[serde(default)]
    pub(crate) body: Option<String>,
    /// Close the connection without answering (after any delay).
    #[serde(default)]
    pub(crate) close: bool,
    /// With the route [`NOTIFICATIONS`]: the next `count` server-to-server
    /// events are not sent at all, as when Apple gave up on an endpoint that
    /// was down (what a reconciliation job must catch).
    #[serde(default)]
    pub(crate) drop: bool,
}

/// The pseudo-route of Apple's outgoing server-to-server events, for faults.
pub(crate) const NOTIFICATIONS: &str = "notifications";

fn one() -> u32 {
    1
}

/// Requests served per route (families merged), for `GET /emulator/stats`.
#[derive(Debug, Default)]
pub(crate) struct Stats(Mutex<HashMap<String, u64>>);

impl Stats {
    fn count(&self, path: &str) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry(normalize(path)).or_default() += 1;
    }

    pub(crate) fn snapshot(&self) -> HashMap<String, u64> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Pending faults by route.
#[derive(Debug, Default)]
pub(crate) struct Faults(Mutex<HashMap<String, Fault>>);

impl Faults {
    pub(crate) fn add(&self, fault: Fault) -> Result<(), String> {
        if (fault.route == NOTIFICATIONS) != fault.drop {
            return Err(format!(
                "`drop` goes with the route \"{NOTIFICATIONS}\" (Apple's outgoing events), and that route takes only `drop` and `count`"
            ));
        }
        if fault.status.is_none()
            && fault.delay_ms.is_none()
            && fault.body.is_none()
            && !fault.close
            && !fault.drop
        {
            return Err("a fault needs status, delay_ms, body or close".into());
        }
        if let Some(status) = fault.status {
            StatusCode::from_u16(status)
                .map_err(|_| format!("status {status} is not an HTTP status"))?;
        }
        if fault.delay_ms.is_some_and(|d| d > MAX_DELAY_MS) {
            return Err(format!("delay_ms is at most {MAX_DELAY_MS}"));
        }
        let route = normalize(&fault.route);
        self.lock().insert(route, fault);
        Ok(())
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    pub(crate) fn list(&self) -> Vec<Fault> {
        self.lock().values().cloned().collect()
    }

    /// Whether the next outgoing notification is to be dropped (taking one use).
    pub(crate) fn drops_notification(&self) -> bool {
        self.take(NOTIFICATIONS).is_some()
    }

    /// Takes one use of the fault for `path`, if any.
    fn take(&self, path: &str) -> Option<Fault> {
        let mut faults = self.lock();
        let key = normalize(path);
        let fault = faults.get_mut(&key)?;
        fault.count = fault.count.saturating_sub(1);
        let taken = fault.clone();
        if fault.count == 0 {
            faults.remove(&key);
        }
        Some(taken)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Fault>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `/auth/oauth2/v2/token` and `/auth/token` are the same route for faults.
fn normalize(path: &str) -> String {
    let path = path.trim_end_matches('/');
    match path.strip_prefix("/auth/oauth2/v2") {
        Some(rest) => format!("/auth{rest}"),
        None => path.to_owned(),
    }
}

/// Middleware applying a pending fault before the route runs.
pub(crate) async fn inject(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    app.stats.count(request.uri().path());
    let Some(fault) = app.faults.take(request.uri().path()) else {
        return next.run(request).await;
    };
    tracing::info!(route = %fault.route, status = ?fault.status, delay_ms = ?fault.delay_ms, "injecting fault");
    if let Some(delay) = fault.delay_ms {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if fault.close {
        // Unwinding out of the connection's task makes hyper drop the socket
        // without an answer, as a crashed or cut-off server would. No panic
        // hook runs for `resume_unwind`, so nothing is printed.
        std::panic::resume_unwind(Box::new("emulator fault: connection closed"));
    }
    match (fault.status, fault.body) {
        (None, None) => next.run(request).await,
        (status, body) => {
            let status = status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::OK);
            let body = body.unwrap_or_else(|| r#"{"error":"emulator_fault"}"#.to_owned());
            (status, body).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_share_faults_and_counts_run_out() {
        let faults = Faults::default();
        faults
            .add(Fault {
                route: "/auth/token".into(),
                status: Some(500),
                delay_ms: None,
                count: 2,
                body: None,
                close: false,
                drop: false,
            })
            .unwrap();
        assert!(faults.take("/auth/oauth2/v2/token").is_some());
        assert!(faults.take("/auth/token").is_some());
        assert!(faults.take("/auth/token").is_none());
        assert!(faults
            .add(Fault {
                route: "/x".into(),
                status: None,
                delay_ms: None,
                count: 1,
                body: None,
                close: false,
                drop: false,
            })
            .is_err());
    }

    fn dropping(route: &str, count: u32) -> Fault {
        Fault {
            route: route.into(),
            status: None,
            delay_ms: None,
            count,
            body: None,
            close: false,
            drop: true,
        }
    }

    #[test]
    fn dropped_notifications_run_out_and_drop_goes_only_with_that_route() {
        let faults = Faults::default();
        assert!(!faults.drops_notification());
        faults.add(dropping(NOTIFICATIONS, 2)).unwrap();
        assert!(faults.drops_notification());
        assert!(faults.drops_notification());
        assert!(!faults.drops_notification());
        assert!(faults.add(dropping("/auth/token", 1)).is_err());
        let mut answered = dropping(NOTIFICATIONS, 1);
        answered.drop = false;
        answered.status = Some(500);
        assert!(faults.add(answered).is_err());
    }
}
