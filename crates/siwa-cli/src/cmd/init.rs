//! `siwa init`: a first configuration, guided. It asks for (or takes as
//! flags) the Team ID, the Services ID, the bundle IDs, the `.p8` and the
//! public URL; checks the key and ids as `siwa doctor` does; writes a
//! commented `siwa.toml` that `siwa serve --config` starts from, and the
//! service keys file beside it (0600); then prints what to register in
//! Apple's developer portal and the command that starts the service.
//!
//! Nothing is written until everything checks out, and an existing
//! configuration is never overwritten without `--force` (exit 2). The
//! service keys file is never overwritten at all: it seals what the
//! database holds, so an existing one is kept (and checked).
//!
//! - `init.rs`: the flags and the steps;
//! - `init/answers.rs`: each value from its flag or a question, checked;
//! - `init/template.rs`: the `siwa.toml` text and the portal steps.

mod answers;
mod template;

use std::path::{Path, PathBuf};

use clap::Args;
use siwa_kit::clock::{Clock, SystemClock, UnixTime};
use siwa_kit::doctor::{CheckId, Doctor, ExpectedKey, Status};
use siwa_kit::ids::ClientId;
use siwa_kit::secret::ClientSecretBuilder;
use siwa_server::keys::KEY_FILE_NAME;
use siwa_server::store::DatabaseUrl;
use siwa_server::{RawSettings, ServiceKeys, Settings};

use crate::failure::{Failure, Outcome};
use answers::Answers;
use template::Plan;

#[derive(Args, Debug)]
pub(crate) struct InitArgs {
    /// Team ID, 10 characters (Membership details on developer.apple.com).
    #[arg(long, value_name = "TEAM_ID")]
    pub(crate) team_id: Option<String>,
    /// The Services ID of the web sign-in (Identifiers > Services IDs), e.g. com.example.web.
    #[arg(long, value_name = "SERVICES_ID")]
    pub(crate) client_id: Option<String>,
    /// A native app's bundle ID, signing in through POST /auth/apple/native (repeat for each app).
    #[arg(long = "bundle-id", value_name = "BUNDLE_ID")]
    pub(crate) bundle_ids: Vec<String>,
    /// The .p8 key Apple let you download (AuthKey_<KEYID>.p8).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: Option<PathBuf>,
    /// Key ID [default: from the file name AuthKey_<KEYID>.p8, which it must agree with].
    #[arg(long, value_name = "KEY_ID")]
    pub(crate) key_id: Option<String>,
    /// Where browsers and apps reach the service, e.g. https://login.example.com.
    #[arg(long, value_name = "URL")]
    pub(crate) public_url: Option<String>,
    /// The address to listen on [default: the public URL's port on loopback addresses, else 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<String>,
    /// Apple's base URL, or the emulator's for a rehearsal [default: https://appleid.apple.com].
    #[arg(long, value_name = "URL")]
    pub(crate) apple_url: Option<String>,
    /// The configuration file to write; the database and service keys go beside it.
    #[arg(long, value_name = "FILE", default_value = "siwa.toml")]
    pub(crate) config: PathBuf,
    /// Ask nothing (for scripts): every value comes from a flag, and a missing one is an error.
    #[arg(long)]
    pub(crate) yes: bool,
    /// Overwrite an existing configuration file (the service keys file beside it is kept).
    #[arg(long)]
    pub(crate) force: bool,
}

pub(crate) fn run(args: InitArgs) -> Outcome {
    let config = absolute(&args.config)?;
    refuse_overwrite(&config, args.force)?;
    let answers = Answers::gather(&args)?;
    let now = SystemClock.now();
    check_with_doctor(&answers, now)?;
    let dir = config
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let plan = Plan::new(&answers, &config, &dir, now);
    let text = plan.toml();
    check_as_serve_would(&text)?;
    if !args.yes && !answers::confirm(&format!("Write {}?", config.display()))? {
        return Err(Failure::usage("nothing written", "run siwa init again"));
    }
    let keys = write_service_keys(&dir, &plan.database_url)?;
    write_config(&config, &text, args.force)?;
    println!("{}", plan.report(keys));
    Ok(())
}

/// What happened to the service keys file.
#[derive(Clone, Copy, Debug)]
pub(crate) enum KeysFile {
    Created,
    Kept,
}

/// The file as an absolute path (what `siwa serve` is told to start from).
fn absolute(path: &Path) -> Result<PathBuf, Failure> {
    std::path::absolute(path).map_err(|e| {
        Failure::usage(
            format!("--config {}: {e}", path.display()),
            "pass a path you can write to",
        )
    })
}

fn refuse_overwrite(config: &Path, force: bool) -> Result<(), Failure> {
    if config.exists() && !force {
        return Err(Failure::usage(
            format!("{} exists; nothing written", config.display()),
            "pass --force to overwrite it (the service keys file beside it is kept), or --config another file",
        ));
    }
    Ok(())
}

/// A client secret made with the key and ids, examined by the doctor for
/// each client id: the key loads, the Key ID is the file's, the ids are
/// well formed, and the signature verifies with the key's public half.
fn check_with_doctor(answers: &Answers, now: UnixTime) -> Result<(), Failure> {
    let expected = ExpectedKey::new(
        answers.key.key().public_key().clone(),
        answers.key_label.clone(),
        answers.key.file_key_id(),
    );
    let clients = std::iter::once(&answers.client_id).chain(&answers.bundle_ids);
    for client in clients {
        let report = Doctor::new()
            .team_id(answers.team_id.as_str())
            .key_id(answers.key_id.as_str())
            .client_id(client.as_str())
            .key(expected.clone())
            .examine(&secret_for(answers, client, now)?, now);
        if let Some(failed) = report.checks.iter().find(|c| c.status == Status::Fail) {
            // The doctor speaks of a secret's header; here the Key ID is ours to choose.
            let hint = match (failed.id, answers.key.file_key_id()) {
                (CheckId::HeaderKid, Some(file_kid)) => format!(
                    "the file name says Key ID {file_kid}: leave --key-id out, or pass the .p8 of {} (Keys on developer.apple.com lists each key's id)",
                    answers.key_id
                ),
                _ => failed.hint.clone(),
            };
            return Err(Failure::usage(
                format!("{} ({}): {}", failed.id.as_str(), client, failed.message),
                hint,
            ));
        }
    }
    Ok(())
}

fn secret_for(answers: &Answers, client: &ClientId, now: UnixTime) -> Result<String, Failure> {
    let builder = ClientSecretBuilder::new(
        answers.team_id.clone(),
        answers.key_id.clone(),
        client.clone(),
    )
    .ttl_secs(600)
    .map_err(|e| Failure::usage(&e, e.hint()))?;
    let secret = builder
        .sign(answers.key.key(), now)
        .map_err(|e| Failure::usage(&e, e.hint()))?;
    Ok(secret.secret().to_owned())
}

/// The text, loaded as `siwa serve` loads it (without the environment, and
/// on an in-memory database so that nothing is written yet).
fn check_as_serve_would(text: &str) -> Result<(), Failure> {
    let refused = |e: siwa_server::ConfigError| {
        Failure::usage(
            format!("the configuration would not start: {e}"),
            "fix the value named (the public URL must be https, or http on localhost)",
        )
    };
    let mut raw = RawSettings::from_toml(text).map_err(refused)?;
    raw.database_url = Some("sqlite::memory:".to_owned());
    Settings::load(raw).map(drop).map_err(refused)
}

/// The service keys beside the database: made (0600), or an existing file
/// kept after checking that it loads.
fn write_service_keys(dir: &Path, database_url: &str) -> Result<KeysFile, Failure> {
    let existed = dir.join(KEY_FILE_NAME).exists();
    ServiceKeys::resolve(None, None, &DatabaseUrl::new(database_url)).map_err(|e| {
        Failure::usage(
            format!("service keys: {e}"),
            "move the damaged key file away only if no database was sealed with it",
        )
    })?;
    Ok(if existed {
        KeysFile::Kept
    } else {
        KeysFile::Created
    })
}

/// Writes the configuration (0600): a new file, or with `--force` a
/// replacement renamed over the old one.
fn write_config(config: &Path, text: &str, force: bool) -> Result<(), Failure> {
    use std::io::Write;
    let failed = |e: std::io::Error| {
        Failure::usage(
            format!("cannot write {}: {e}", config.display()),
            "pass --config with a path you can write to",
        )
    };
    let target = if force {
        config.with_extension("toml.new")
    } else {
        config.to_path_buf()
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&target).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::usage(
                format!("{} exists; nothing written", config.display()),
                "pass --force to overwrite it",
            )
        } else {
            failed(e)
        }
    })?;
    file.write_all(text.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    if force {
        std::fs::rename(&target, config).map_err(failed)?;
    }
    Ok(())
}
