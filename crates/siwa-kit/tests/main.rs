//! siwa-kit's integration tests: one test binary, modules beside it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod apple_real;
mod attacks;
mod jwks_cache;
mod notifications;
mod support;
mod wycheproof;
