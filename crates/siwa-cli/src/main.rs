//! `siwa`: Sign in with Apple from the command line.

mod args;
mod cmd;
mod failure;
mod logging;
mod settings;
mod style;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Secret(args) => cmd::secret::run(args),
        Command::Pubkey(args) => cmd::pubkey::run(args),
        Command::Doctor(args) => cmd::doctor::run(args),
        Command::Emulator(args) => cmd::emulator::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
