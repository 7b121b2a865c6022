//! The one place errors become exit codes: 0 ok, 1 the input was judged and
//! failed, 2 usage or configuration error. Never a panic for bad input.

use std::fmt;
use std::process::ExitCode;

/// Why a command did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The input was judged and failed (bad token, doctor found a fault, Apple said no): exit 1.
    /// The command has already printed its verdict; the message is a one-line summary.
    Judged(String),
    /// Usage or configuration error (missing flag, unreadable key): exit 2.
    Usage {
        /// What is wrong, in one line.
        cause: String,
        /// What to do about it; may be empty.
        hint: String,
    },
}

impl Failure {
    /// A usage or configuration error with a hint.
    pub(crate) fn usage(cause: impl fmt::Display, hint: impl Into<String>) -> Self {
        Self::Usage {
            cause: cause.to_string(),
            hint: hint.into(),
        }
    }

    /// Prints the failure to stderr and gives the exit code.
    pub(crate) fn report(self) -> ExitCode {
        match self {
            Self::Judged(summary) => {
                if !summary.is_empty() {
                    eprintln!("{summary}");
                }
                ExitCode::from(1)
            }
            Self::Usage { cause, hint } => {
                eprintln!("error: {cause}");
                if !hint.is_empty() {
                    eprintln!("  hint: {hint}");
                }
                ExitCode::from(2)
            }
        }
    }
}

/// What every command returns.
pub(crate) type Outcome = Result<(), Failure>;
