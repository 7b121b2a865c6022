//! `siwa`: Sign in with Apple from the command line.

mod args;
mod cmd;
mod failure;
mod logging;
mod settings;
mod style;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Secret(args) => cmd::secret::run(args),
        Command::Pubkey(args) => cmd::pubkey::run(args),
        Command::Doctor(args) => cmd::doctor::run(args),
        Command::Verify(args) => cmd::verify::run(args),
        Command::Exchange(args) => cmd::exchange::run(args),
        Command::Refresh(args) => cmd::refresh::run(args),
        Command::Revoke(args) => cmd::revoke::run(args),
        Command::AuthorizeUrl(args) => cmd::authorize_url::run(args),
        Command::Emulator(args) => cmd::emulator::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Migrate(args) => cmd::migrate::run(args),
        Command::Webhooks(args) => cmd::webhooks::run(args),
        Command::Init(args) => cmd::init::run(args),
        Command::Completions(args) => cmd::completions::run(args, Cli::command()),
        Command::Manpages(args) => cmd::manpages::run(args, Cli::command()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
