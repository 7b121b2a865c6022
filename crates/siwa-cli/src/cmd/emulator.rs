//! `siwa emulator`: a local appleid.apple.com for development and tests.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Args;
use siwa_emulator::{Config, Emulator, Options};

use crate::failure::{Failure, Outcome};

#[derive(Args, Debug)]
pub(crate) struct EmulatorArgs {
    /// The emulator's TOML configuration (teams, keys, clients, users).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: PathBuf,
    /// Port to listen on (0: any free port; the URL is printed on the first line).
    #[arg(long, default_value_t = 8081)]
    pub(crate) port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: IpAddr,
    /// Keep users' authorizations and refresh tokens in this file across restarts.
    #[arg(long, value_name = "FILE")]
    pub(crate) state: Option<PathBuf>,
}

pub(crate) fn run(args: EmulatorArgs) -> Outcome {
    crate::logging::init();
    let config = Config::from_file(&args.config).map_err(|e| {
        Failure::usage(
            e,
            "see the emulator config in DESIGN.md or examples/emulator.toml: [[team]] with [[team.key]] and [[team.client]], and [[user]]",
        )
    })?;
    let options = Options {
        clock: None,
        state_file: args.state,
    };
    let emulator = Emulator::with_options(config, options)
        .map_err(|e| Failure::usage(format!("cannot start the emulator: {e}"), ""))?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| Failure::usage(format!("cannot start the async runtime: {e}"), ""))?;
    runtime.block_on(async {
        let addr = SocketAddr::new(args.host, args.port);
        let running = emulator.start(addr).await.map_err(|e| {
            Failure::usage(
                format!("cannot listen on {addr}: {e}"),
                "pick another --port (0 takes any free port)",
            )
        })?;
        println!("siwa emulator: Apple is at {}", running.base_url());
        eprintln!(
            "  authorize: {0}/auth/authorize   token: {0}/auth/token   keys: {0}/auth/keys\n  (Ctrl-C stops it)",
            running.base_url()
        );
        shutdown_signal().await;
        running.stop().await;
        Ok(())
    })
}

/// Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
