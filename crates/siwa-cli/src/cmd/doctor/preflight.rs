//! `siwa doctor --config FILE [--probe]`: the deployment `siwa serve --config
//! FILE` would run, checked before it goes live. The configuration is read
//! exactly as the service reads it (the file, then `SIWA_*`); what the service
//! would refuse is a configuration error (exit 2, the service's message),
//! except service keys a PostgreSQL deployment lacks, which are a failed
//! check. Nothing is written: no key file, no database file, no migration.
//! Checks that need the network (Apple, the public URL) run with `--probe`
//! only, and are skipped otherwise.

use std::path::Path;

use siwa_kit::p8::{read_key_file, PublicKey};
use siwa_server::Settings;

use super::report::{conclude, Findings, Wording};
use super::{database, keys, probes, urls};
use crate::args::DoctorArgs;
use crate::cmd::apple::block_on;
use crate::cmd::serve::{config_failure, load_raw};
use crate::failure::{Failure, Outcome};
use crate::settings::key_failure;

pub(crate) fn run(args: DoctorArgs, config: &Path) -> Outcome {
    let raw = load_raw(Some(config))?;
    let (service_keys, raw_to_load) = keys::service_keys(&raw);
    let settings = Settings::load(raw_to_load).map_err(config_failure)?;
    let expected = args
        .public_key
        .as_deref()
        .map(read_public_key)
        .transpose()?;
    let mut checks = vec![keys::key_file(&raw, &settings, expected.as_ref())];
    checks.extend(urls::checks(&settings));
    checks.push(service_keys);
    let network = block_on(async {
        let database = database::check(&settings.database_url).await;
        let probes = probes::run(&settings, args.probe).await;
        (database, probes)
    })?;
    checks.push(network.0);
    checks.extend(network.1?);
    conclude(
        &Findings::new(checks),
        args.json,
        &Wording {
            title: format!("siwa doctor: deployment preflight of {}", config.display()),
            failed: "the deployment is not ready to go live.",
            warned: "it should work; read them.",
            passed: "All checks passed: the deployment is ready.",
            skipped: "run with --probe to ask Apple and to reach the service at its public URL.",
        },
    )
}

/// `--public-key FILE`: the key Apple holds for `key_id`, when you have it.
fn read_public_key(path: &Path) -> Result<PublicKey, Failure> {
    let bytes = read_key_file(path).map_err(key_failure)?;
    PublicKey::from_pem(&String::from_utf8_lossy(&bytes))
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display()), e.hint()))
}
