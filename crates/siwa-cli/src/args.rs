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
    /// Explain why Apple answers `invalid_client` to a client_secret; with --config, check a whole deployment.
    #[command(after_help = DOCTOR_AFTER_HELP)]
    Doctor(DoctorArgs),
    /// Verify an Apple identity token (or, with --notification, a server-to-server notification).
    Verify(crate::cmd::verify::VerifyArgs),
    /// Exchange an authorization code for tokens at Apple's token endpoint.
    Exchange(ExchangeArgs),
    /// Get a fresh access token and identity token with a refresh token.
    Refresh(RefreshArgs),
    /// Revoke a refresh token or an access token.
    Revoke(RevokeArgs),
    /// Print the URL that starts a sign-in (Apple's authorization request).
    AuthorizeUrl(AuthorizeUrlArgs),
    /// Run a local stand-in for appleid.apple.com (authorize, token, keys, revoke).
    Emulator(crate::cmd::emulator::EmulatorArgs),
    /// Run the login service (web and native Sign in with Apple, users, sessions).
    Serve(crate::cmd::serve::ServeArgs),
    /// Run the emulator and the login service together on SQLite: sign in locally, no Apple account.
    Demo(crate::cmd::demo::DemoArgs),
    /// Move the service's users to another Apple developer team (export before the transfer, import after).
    Migrate(crate::cmd::migrate::MigrateArgs),
    /// The account events sent to the app's webhooks: see where each stands, send one again.
    Webhooks(crate::cmd::webhooks::WebhooksArgs),
    /// Write a first siwa.toml (and the service keys) from your Apple ids and key, checked; print the portal steps.
    Init(crate::cmd::init::InitArgs),
    /// Print the shell completion script (bash, zsh, fish, powershell).
    Completions(crate::cmd::completions::CompletionsArgs),
    /// Write the man pages (siwa.1 and one per subcommand) to a directory.
    Manpages(crate::cmd::manpages::ManpagesArgs),
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

/// What `siwa doctor --help` says after the flags.
const DOCTOR_AFTER_HELP: &str = "\
With --config FILE, the deployment `siwa serve --config FILE` would run is checked
(the file, then SIWA_* variables, read as the service reads them; nothing is written):
  key_file                   the private_key is key_id's: its name AuthKey_<KEYID>.p8 agrees, and with
                             --public-key its public half is that key
  public_url                 https (plain http on loopback: a warning)
  redirect_uri               each Services ID returns to <public_url>/auth/apple/callback
  popup_redirect_uris        each popup page's origin may call the service
  service_keys               session_key and encryption_key set (PostgreSQL: required)
  database                   reachable, and every migration of this build applied
  apple.secret:<client_id>   (--probe) Apple accepts a fresh client_secret for each client id
  clock                      (--probe) within a minute of Apple's Date header
  notifications              (--probe) <public_url>/auth/apple/notifications answers (400 to an empty POST)
Without --probe the last three are skipped. Exit 0 when no check failed, 1 when one did,
2 when the configuration cannot be read or the service would refuse it.";

#[derive(Args, Debug)]
pub(crate) struct DoctorArgs {
    /// The client_secret JWT, or `-` to read it from stdin (the default when stdin is not a terminal).
    #[arg(value_name = "JWT|-")]
    pub(crate) token: Option<String>,
    /// Check a whole deployment instead: the `siwa serve` configuration FILE (and SIWA_*), as the
    /// service loads it; with --probe, also Apple's verdict and the service's public URL.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["token", "key", "team_id", "key_id", "client_id", "now", "apple_url"]
    )]
    pub(crate) config: Option<PathBuf>,
    /// The .p8 private key that should have signed it (env SIWA_PRIVATE_KEY).
    #[arg(long, value_name = "FILE", conflicts_with = "public_key")]
    pub(crate) key: Option<String>,
    /// The public key (PEM) that should verify it; with --config, the key_file's public half.
    #[arg(long, value_name = "FILE")]
    pub(crate) public_key: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) ids: IdentityArgs,
    /// Judge the secret at this Unix time (seconds) instead of now.
    #[arg(long, value_name = "UNIX")]
    pub(crate) now: Option<u64>,
    /// Also ask Apple (check `apple.probe`): the token endpoint gets the secret and a made-up
    /// code; `invalid_grant` means Apple accepted the secret, `invalid_client` that it did not.
    /// With --config: a fresh secret per client id, the clock, and the notification endpoint.
    #[arg(long)]
    pub(crate) probe: bool,
    #[command(flatten)]
    pub(crate) endpoint: EndpointArgs,
    /// Print the report as JSON: {"ok":bool,"checks":[{"id","status","message","hint"}]}.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Where Apple is: `--apple-url` and `--api`.
#[derive(Args, Debug)]
pub(crate) struct EndpointArgs {
    /// Apple's base URL, or the emulator's (env SIWA_APPLE_BASE_URL) [default: https://appleid.apple.com].
    #[arg(long, value_name = "URL")]
    pub(crate) apple_url: Option<String>,
    /// API family: sign-in-with-apple (/auth/...) or org-data-sharing (/auth/oauth2/v2/...).
    #[arg(
        long,
        value_enum,
        default_value = "sign-in-with-apple",
        env = "SIWA_API"
    )]
    pub(crate) api: ApiArg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ApiArg {
    /// Sign in with Apple: /auth/authorize|token|keys|revoke.
    SignInWithApple,
    /// Account & Organizational Data Sharing: /auth/oauth2/v2/authorize|token|keys|revoke.
    OrgDataSharing,
}

/// What the token and revoke endpoints need: the secret's inputs and where Apple is.
#[derive(Args, Debug)]
pub(crate) struct AppleArgs {
    #[command(flatten)]
    pub(crate) ids: IdentityArgs,
    /// The .p8 private key file (env SIWA_PRIVATE_KEY: a path or the PEM text).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: Option<String>,
    #[command(flatten)]
    pub(crate) endpoint: EndpointArgs,
    /// Print Apple's answer as one line of JSON (default: indented JSON, or text).
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args, Debug)]
pub(crate) struct ExchangeArgs {
    /// The authorization code (single use, valid 5 minutes), or `-` to read it from stdin.
    #[arg(long, value_name = "CODE|-")]
    pub(crate) code: String,
    /// The redirect_uri of the authorization request; leave it out if that request had none
    /// (a native app's code).
    #[arg(long, value_name = "URL")]
    pub(crate) redirect_uri: Option<String>,
    #[command(flatten)]
    pub(crate) apple: AppleArgs,
}

#[derive(Args, Debug)]
pub(crate) struct RefreshArgs {
    /// The refresh token from the code exchange, or `-` to read it from stdin.
    #[arg(long, value_name = "TOKEN|-")]
    pub(crate) refresh_token: String,
    #[command(flatten)]
    pub(crate) apple: AppleArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum TokenTypeHintArg {
    /// A refresh token: revoking it ends the user's authorization of the app.
    #[value(name = "refresh_token")]
    RefreshToken,
    /// An access token.
    #[value(name = "access_token")]
    AccessToken,
}

#[derive(Args, Debug)]
pub(crate) struct RevokeArgs {
    /// The token to revoke, or `-` to read it from stdin.
    #[arg(long, value_name = "TOKEN|-")]
    pub(crate) token: String,
    /// What kind of token it is.
    #[arg(
        long,
        visible_alias = "hint",
        value_enum,
        default_value = "refresh_token"
    )]
    pub(crate) token_type_hint: TokenTypeHintArg,
    #[command(flatten)]
    pub(crate) apple: AppleArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ResponseModeArg {
    /// In the redirect URL's query.
    #[value(name = "query")]
    Query,
    /// In the redirect URL's fragment.
    #[value(name = "fragment")]
    Fragment,
    /// A form POSTed to the redirect URL (required with --scope).
    #[value(name = "form_post")]
    FormPost,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ResponseTypeArg {
    /// A code only.
    #[value(name = "code")]
    Code,
    /// A code and an identity token.
    #[value(name = "code id_token")]
    CodeIdToken,
}

#[derive(Args, Debug)]
pub(crate) struct AuthorizeUrlArgs {
    /// Services ID (web) or bundle ID (env SIWA_CLIENT_ID).
    #[arg(long, value_name = "CLIENT_ID")]
    pub(crate) client_id: Option<String>,
    /// Where Apple sends the answer: registered for the client, exactly.
    #[arg(long, value_name = "URL")]
    pub(crate) redirect_uri: String,
    /// What to ask the user to share, e.g. "name email" (forces response_mode form_post).
    #[arg(long, value_name = "SCOPES")]
    pub(crate) scope: Option<String>,
    /// A value the callback echoes (tie it to the browser session; compare it on return).
    #[arg(long, value_name = "STATE")]
    pub(crate) state: Option<String>,
    /// A value Apple copies into the identity token's nonce claim.
    #[arg(long, value_name = "NONCE")]
    pub(crate) nonce: Option<String>,
    /// How the answer comes back [default: form_post with a scope, fragment with id_token, else query].
    #[arg(long, value_enum)]
    pub(crate) response_mode: Option<ResponseModeArg>,
    /// What comes back.
    #[arg(long, value_enum, default_value = "code")]
    pub(crate) response_type: ResponseTypeArg,
    #[command(flatten)]
    pub(crate) endpoint: EndpointArgs,
    /// Print {"url": ...} as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}
