//! `siwa manpages DIR`: man pages made by clap_mangen from the same
//! definition that parses the command line: `siwa.1`, and one page per
//! subcommand (`siwa-serve.1`, `siwa-migrate-export.1`, ...).

use std::path::{Path, PathBuf};

use clap::Args;

use crate::failure::{Failure, Outcome};

#[derive(Args, Debug)]
pub(crate) struct ManpagesArgs {
    /// The directory to write the pages to (made if missing), e.g. /usr/local/share/man/man1.
    #[arg(value_name = "DIR")]
    pub(crate) dir: PathBuf,
}

/// Writes the pages of `command` (the whole command line, from `main`).
pub(crate) fn run(args: ManpagesArgs, command: clap::Command) -> Outcome {
    let failed = |e: std::io::Error| {
        Failure::usage(
            format!("cannot write the man pages to {}: {e}", args.dir.display()),
            "pass a directory you can write to",
        )
    };
    std::fs::create_dir_all(&args.dir).map_err(failed)?;
    let mut command = command.disable_help_subcommand(true);
    command.build();
    let mut written = Vec::new();
    write_pages(command, &args.dir, &mut written).map_err(failed)?;
    for path in &written {
        println!("{}", path.display());
    }
    Ok(())
}

/// The page of `command` and of each of its subcommands, depth first.
fn write_pages(
    command: clap::Command,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub.clone(), dir, written)?;
    }
    written.push(clap_mangen::Man::new(command).generate_to(dir)?);
    Ok(())
}
