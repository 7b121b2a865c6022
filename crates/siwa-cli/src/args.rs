//! The command line, as clap sees it. Settings a flag leaves out may come from
//! `SIWA_*` environment variables; see `settings.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Sign in with Apple, server side: client secrets, invalid_client diagnosis,
/// identity token verification.
#[derive(Debug, Parser)]
#[command(name = "siwa", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Make a client_secret (the ES256 JWT Apple's /auth/token wants).
    Secret(SecretArgs),
    /// Print the public key of a .p8, as `openssl ec -pubout` does (or as a JWK).
    Pubkey(PubkeyArgs),
    /// Explain why Apple answers `invalid_client` to a client_secret.
    Doctor(DoctorArgs),
    /// Run a local stand-in for appleid.apple.com (authorize, token, keys, revoke).
    Emulator(crate::cmd::emulator::EmulatorArgs),
}

/// The team, key and client a secret is for.
#[derive(Args, Debug)]
pub(crate) struct IdentityArgs {
    /// Team ID, 10 characters (env SIWA_TEAM_ID).
    #[arg(long, value_name = "TEAM_ID")]
    pub(crate) team_id: Option<String>,
    /// Key ID, 10 characters (env SIWA_KEY_ID; default: read from AuthKey_<KEYID>.p8).
    #[arg(long, value_name = "KEY_ID")]
    pub(crate) key_id: Option<String>,
    /// Services ID (web) or bundle ID (native app) (env SIWA_CLIENT_ID).
    #[arg(long, value_name = "CLIENT_ID")]
    pub(crate) client_id: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct SecretArgs {
    #[command(flatten)]
    pub(crate) ids: IdentityArgs,
    /// The .p8 private key file (env SIWA_PRIVATE_KEY: a path or the PEM text).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: Option<String>,
    /// Lifetime: seconds, or with a unit s, m, h, d, w (10m, 180d). At most 15777000 s.
    #[arg(long, default_value = "180d", value_name = "TTL")]
    pub(crate) ttl: String,
    /// Pretend the time is this Unix time (seconds).
    #[arg(long, value_name = "UNIX")]
    pub(crate) now: Option<u64>,
    /// Print {client_secret, expires_at, expires_at_iso, ttl} as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum PubkeyFormat {
    /// SubjectPublicKeyInfo PEM, as `openssl ec -pubout`.
    Pem,
    /// A JSON Web Key.
    Jwk,
}

#[derive(Args, Debug)]
pub(crate) struct PubkeyArgs {
    /// The .p8 private key file (env SIWA_PRIVATE_KEY: a path or the PEM text).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "pem")]
    pub(crate) format: PubkeyFormat,
}

#[derive(Args, Debug)]
pub(crate) struct DoctorArgs {
    /// The client_secret JWT, or `-` to read it from stdin (the default when stdin is not a terminal).
    #[arg(value_name = "JWT|-")]
    pub(crate) token: Option<String>,
    /// The .p8 private key that should have signed it (env SIWA_PRIVATE_KEY).
    #[arg(long, value_name = "FILE", conflicts_with = "public_key")]
    pub(crate) key: Option<String>,
    /// The public key (PEM) that should verify it.
    #[arg(long, value_name = "FILE")]
    pub(crate) public_key: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) ids: IdentityArgs,
    /// Judge the secret at this Unix time (seconds) instead of now.
    #[arg(long, value_name = "UNIX")]
    pub(crate) now: Option<u64>,
    /// Print the report as JSON: {"ok":bool,"checks":[{"id","status","message","hint"}]}.
    #[arg(long)]
    pub(crate) json: bool,
}
