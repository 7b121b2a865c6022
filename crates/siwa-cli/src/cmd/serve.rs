//! `siwa serve`: the login service.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::Args;
use siwa_server::{RawSettings, ServiceKeys, Settings, StartError};

use crate::failure::{Failure, Outcome};

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// The TOML configuration (every key may also come from SIWA_<KEY>, which wins).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Print a new session_key and encryption_key (for PostgreSQL deployments),
    /// and an OpenID Provider signing key, and exit.
    #[arg(long)]
    pub(crate) print_new_keys: bool,
    /// Print the OpenAPI 3.1 document of every route (the OpenID Provider's too), and exit.
    /// A running service serves its own at /openapi.json, browsable at /docs.
    #[arg(long, conflicts_with = "print_new_keys")]
    pub(crate) print_openapi: bool,
}

pub(crate) fn run(args: ServeArgs) -> Outcome {
    if args.print_openapi {
        println!("{}", siwa_server::openapi_json(true));
        return Ok(());
    }
    if args.print_new_keys {
        let (session, encryption) =
            ServiceKeys::new_settings().map_err(|e| Failure::usage(e, ""))?;
        println!("# Keep these secret; give every replica the same values.");
        println!("session_key = '''\n{}'''", session.as_str());
        println!("encryption_key = \"{}\"", encryption.as_str());
        let oidc = siwa_server::oidc::new_signing_key().map_err(|e| Failure::usage(e, ""))?;
        println!("\n# With an [oidc] section: the key that signs ID tokens (newest first).");
        println!("[oidc]\nsigning_keys = ['''\n{}''']", oidc.as_str());
        return Ok(());
    }
    crate::logging::init();
    let settings = load_settings(args.config.as_deref())?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| Failure::usage(format!("cannot start the async runtime: {e}"), ""))?;
    runtime.block_on(async {
        let listen = settings.listen.clone();
        let public = settings.public_url.clone();
        let state = siwa_server::prepare(settings)
            .await
            .map_err(start_failure)?;
        let running = siwa_server::start(state, &listen)
            .await
            .map_err(start_failure)?;
        println!(
            "siwa serve: listening on {} (public URL {public})",
            running.base_url()
        );
        crate::cmd::emulator::shutdown_signal().await;
        running.stop().await;
        Ok(())
    })
}

/// Settings from the file (if any) and the environment, validated.
pub(crate) fn load_settings(config: Option<&std::path::Path>) -> Result<Settings, Failure> {
    Settings::load(load_raw(config)?).map_err(config_failure)
}

/// The settings as written: the file (if any), then `SIWA_*` over it.
pub(crate) fn load_raw(config: Option<&std::path::Path>) -> Result<RawSettings, Failure> {
    let raw = match config {
        Some(path) => RawSettings::from_file(path).map_err(config_failure)?,
        None => RawSettings::default(),
    };
    let env: HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("SIWA_"))
        .collect();
    raw.with_env(&env).map_err(config_failure)
}

/// A configuration the service would refuse: exit 2 with the server's message.
pub(crate) fn config_failure(e: siwa_server::ConfigError) -> Failure {
    Failure::usage(
        format!("configuration: {e}"),
        "see the server configuration in README.md (siwa serve)",
    )
}

pub(crate) fn start_failure(e: StartError) -> Failure {
    let hint = match &e {
        StartError::Store { .. } => "check database_url and that the database is running",
        StartError::Listen { .. } => "choose another listen address or stop what uses it",
        _ => "",
    };
    Failure::usage(format!("cannot start: {e}"), hint)
}
