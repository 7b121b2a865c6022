//! `siwa completions SHELL`: the shell's completion script for `siwa`, made
//! by clap_complete from the same definition that parses the command line.

use clap::Args;
use clap_complete::Shell;

use crate::failure::Outcome;

#[derive(Args, Debug)]
pub(crate) struct CompletionsArgs {
    /// The shell: bash, zsh, fish, powershell (or elvish).
    #[arg(value_enum)]
    pub(crate) shell: Shell,
}

/// Writes the script for `command` (the whole command line, from `main`).
pub(crate) fn run(args: CompletionsArgs, mut command: clap::Command) -> Outcome {
    clap_complete::generate(args.shell, &mut command, "siwa", &mut std::io::stdout());
    Ok(())
}
