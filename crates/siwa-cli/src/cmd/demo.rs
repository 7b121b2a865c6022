//! `siwa demo`: the emulator and the login service together, on an embedded
//! SQLite database, so a newcomer can sign in locally with no Apple account.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use siwa_emulator::{Config, ConfigBuilder, Emulator, Options, TeamBuilder, UserBuilder};
use siwa_kit::p8::SigningKey;
use siwa_server::{AppState, RawSettings, ServiceKeys, Settings};

use crate::cmd::serve::start_failure;
use crate::failure::{Failure, Outcome};

const TEAM: &str = "DEMOTEAM01";
const KEY_ID: &str = "DEMOKEY001";
const WEB_CLIENT: &str = "com.example.web";
const IOS_CLIENT: &str = "com.example.ios";

#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Port of the login service (0: any free port).
    #[arg(long, default_value_t = 8080)]
    pub(crate) port: u16,
    /// Port of the emulated Apple (0: any free port).
    #[arg(long, default_value_t = 8081)]
    pub(crate) apple_port: u16,
    /// Where the demo keeps its database, keys and emulator state.
    #[arg(long, default_value = "siwa-demo")]
    pub(crate) data_dir: PathBuf,
}

pub(crate) fn run(args: DemoArgs) -> Outcome {
    crate::logging::init();
    private_dir(&args.data_dir)?;
    let team_key = demo_team_key(&args.data_dir)?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| Failure::usage(format!("cannot start the async runtime: {e}"), ""))?;
    runtime.block_on(async move {
        let service_listener = bind(args.port).await?;
        let service = format!("http://{}", service_listener.local_addr().map_err(|e| Failure::usage(e, ""))?);
        let public_pem = SigningKey::from_pem(&team_key)
            .map_err(|e| Failure::usage(e, ""))?
            .public_key()
            .to_pem();
        let emulator_config = emulator_config(&service, &public_pem)?;
        let emulator = Emulator::with_options(
            emulator_config,
            Options {
                clock: None,
                state_file: Some(args.data_dir.join("emulator-state.json")),
            },
        )
        .map_err(|e| Failure::usage(format!("cannot start the emulator: {e}"), ""))?;
        let apple = emulator
            .start(SocketAddr::from(([127, 0, 0, 1], args.apple_port)))
            .await
            .map_err(|e| Failure::usage(format!("cannot listen on port {}: {e}", args.apple_port), "pass --apple-port 0"))?;
        let settings = demo_settings(&service, &apple.base_url(), &team_key, &args.data_dir)?;
        let store = siwa_server::store::connect(&settings.database_url)
            .await
            .map_err(|e| Failure::usage(format!("cannot open the demo database: {e}"), ""))?;
        let state = Arc::new(AppState::new(settings, Arc::from(store)).map_err(|e| Failure::usage(e, ""))?);
        let running = siwa_server::start_on(state, service_listener).map_err(start_failure)?;
        println!("siwa demo: open {}/ and click \"Sign in with Apple\"", running.base_url());
        eprintln!(
            "  Apple (emulated): {}   data: {}\n  test users: alice, bob (no password; pick one on the consent page)\n  Ctrl-C stops it",
            apple.base_url(),
            args.data_dir.display()
        );
        crate::cmd::emulator::shutdown_signal().await;
        running.stop().await;
        apple.stop().await;
        Ok(())
    })
}

async fn bind(port: u16) -> Result<tokio::net::TcpListener, Failure> {
    tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(|e| {
            Failure::usage(
                format!("cannot listen on port {port}: {e}"),
                "pass --port 0 for any free port",
            )
        })
}

/// The data directory, created owner-only (0700); an existing one that others
/// can read or enter is tightened, with a warning: it holds the team key, the
/// database and the emulator's refresh tokens.
fn private_dir(dir: &Path) -> Result<(), Failure> {
    let failed = |e: std::io::Error| {
        Failure::usage(
            format!("cannot prepare {}: {e}", dir.display()),
            "pass --data-dir with a directory you own",
        )
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(failed)?;
        let mode = std::fs::metadata(dir).map_err(failed)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "warning: {} was accessible to other users (mode {mode:o}); made it owner-only (0700)",
                dir.display()
            );
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(failed)?;
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(failed)?;
    Ok(())
}

/// The demo team's .p8, made once (mode 0600) and kept in the data directory.
fn demo_team_key(dir: &Path) -> Result<String, Failure> {
    let path = dir.join(format!("AuthKey_{KEY_ID}.p8"));
    if let Ok(pem) = std::fs::read_to_string(&path) {
        return Ok(pem);
    }
    let (pem, _) = ServiceKeys::new_settings().map_err(|e| Failure::usage(e, ""))?;
    let written = (|| {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path)?;
        file.write_all(pem.as_bytes())?;
        file.sync_all()
    })();
    written.map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display()), ""))?;
    Ok(pem.to_string())
}

/// The demo team, its web client (on 127.0.0.1 and on localhost: the
/// callback, and the home page for the popup of Apple's JS) and app, and two
/// test users.
fn emulator_config(service: &str, public_pem: &str) -> Result<Config, Failure> {
    let localhost = service.replace("127.0.0.1", "localhost");
    ConfigBuilder::new()
        .notification_url(format!("{service}/auth/apple/notifications"))
        .team(
            TeamBuilder::new(TEAM)
                .key_pem(KEY_ID, public_pem)
                .client(
                    WEB_CLIENT,
                    [
                        format!("{service}/auth/apple/callback"),
                        format!("{localhost}/auth/apple/callback"),
                        format!("{service}/"),
                        format!("{localhost}/"),
                    ],
                )
                .native_client(IOS_CLIENT),
        )
        .user(UserBuilder::alice())
        .user(UserBuilder::bob())
        .build(Path::new("."))
        .map_err(|e| Failure::usage(e, ""))
}

fn demo_settings(
    service: &str,
    apple: &str,
    team_key: &str,
    dir: &Path,
) -> Result<Settings, Failure> {
    let raw = RawSettings {
        team_id: Some(TEAM.into()),
        key_id: Some(KEY_ID.into()),
        private_key: Some(team_key.to_owned().into()),
        client_id: Some(WEB_CLIENT.into()),
        bundle_ids: Some(vec![IOS_CLIENT.into()]),
        redirect_uri: Some(format!("{service}/auth/apple/callback")),
        popup_redirect_uris: Some(vec![format!("{service}/")]),
        public_url: Some(service.to_owned()),
        database_url: Some(format!("sqlite://{}", dir.join("siwa.db").display())),
        apple_base_url: Some(apple.to_owned()),
        ..RawSettings::default()
    };
    Settings::load(raw).map_err(|e| Failure::usage(e, ""))
}
