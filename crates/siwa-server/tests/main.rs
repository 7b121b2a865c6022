//! siwa-server integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod e2e;
mod faults;
mod harness;
mod hygiene;
mod metrics;
mod oidc;
mod outages;
mod readyz;
mod security;
mod session_cache;
mod session_cache_sqlite;
mod store;
mod web_popup;
mod webhooks;
