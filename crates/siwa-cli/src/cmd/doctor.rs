//! `siwa doctor`: why Apple answers `invalid_client` to a client_secret, or,
//! with `--config`, a whole deployment checked before it goes live.
//!
//! - `doctor.rs`: which of the two runs;
//! - `doctor/secret.rs`: one client_secret against every rule Apple applies
//!   (the kit's `Doctor`), and with `--probe` Apple's own verdict;
//! - `doctor/preflight.rs`: `--config FILE`, loaded as `siwa serve` loads it,
//!   and its checks in order; beside it `keys.rs` (the team key file, the
//!   service's own keys), `urls.rs` (public and redirect URLs),
//!   `database.rs` (reachable and migrated), `probes.rs` (with `--probe`:
//!   Apple's verdict per client id, the notification endpoint) and
//!   `clock.rs` (this machine's clock against Apple's `Date`);
//! - `doctor/report.rs`: the checklist or JSON both print, and the exit code.

mod clock;
mod database;
mod keys;
mod preflight;
mod probes;
mod report;
mod secret;
mod urls;

use crate::args::DoctorArgs;
use crate::failure::Outcome;

pub(crate) fn run(args: DoctorArgs) -> Outcome {
    match args.config.clone() {
        Some(config) => preflight::run(args, &config),
        None => secret::run(args),
    }
}
