//! Emulator integration tests: one binary, modules beside it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod client;
mod control;
mod flows;
mod secrets;
mod support;
mod transfer;
mod verifier;
