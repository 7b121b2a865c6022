//! End-to-end tests of the `siwa` binary: one integration test binary, modules beside it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod apple;
mod cli;
mod crash;
mod demo;
mod doctor;
mod init;
mod migrate;
mod preflight;
mod pubkey;
mod secret;
mod serve;
mod shell;
mod verify;
mod webhooks;
