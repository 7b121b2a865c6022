//! What `siwa init` writes and says: the commented `siwa.toml` (every path
//! absolute, so `siwa serve --config FILE` starts from any directory), and
//! the steps to take in Apple's developer portal for that configuration.

use std::fmt::Write as _;
use std::path::Path;

use siwa_kit::clock::UnixTime;
use siwa_server::keys::KEY_FILE_NAME;

use super::answers::Answers;
use super::KeysFile;

/// The configuration to write, with what follows from the answers.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    answers: &'a Answers,
    config: &'a Path,
    dir: &'a Path,
    now: UnixTime,
    /// `<public_url>/auth/apple/callback`.
    redirect_uri: String,
    listen: String,
    /// SQLite beside the configuration.
    pub(crate) database_url: String,
}

impl<'a> Plan<'a> {
    pub(crate) fn new(
        answers: &'a Answers,
        config: &'a Path,
        dir: &'a Path,
        now: UnixTime,
    ) -> Self {
        let listen = answers
            .listen
            .clone()
            .unwrap_or_else(|| listen_for(&answers.public_url));
        Self {
            answers,
            config,
            dir,
            now,
            redirect_uri: format!("{}/auth/apple/callback", answers.public_url),
            listen,
            database_url: format!("sqlite://{}", dir.join("siwa.db").display()),
        }
    }

    /// The `siwa.toml` text.
    pub(crate) fn toml(&self) -> String {
        let a = self.answers;
        let q = quoted;
        let list = |items: &[String]| {
            let quoted: Vec<String> = items.iter().map(|s| quoted(s)).collect();
            format!("[{}]", quoted.join(", "))
        };
        let bundles: Vec<String> = a.bundle_ids.iter().map(|b| b.as_str().to_owned()).collect();
        let origin = origin_of(&a.public_url);
        let apple = match &a.apple_url {
            Some(url) => format!("apple_base_url = {}", q(url.trim_end_matches('/'))),
            None => "# apple_base_url = \"https://appleid.apple.com\"  # or the emulator's, for a rehearsal".to_owned(),
        };
        format!(
            r#"# siwa.toml, written by `siwa init` on {date}.
# Start the service with: siwa serve --config {config}
# Every key may also come from the environment as SIWA_<KEY>, which wins.
# All the settings: README.md, "The login service: siwa serve".

# Your Apple developer team (Membership details on developer.apple.com).
team_id = {team}
# The Sign in with Apple key: its Key ID, and the .p8 Apple let you download
# once (keep it readable by the service's user only).
key_id = {kid}
private_key = {key}
# The Services ID: the client id of the web sign-in.
client_id = {client}
# Native apps' bundle IDs (POST /auth/apple/native); empty: no native sign-in.
bundle_ids = {bundles}

# Where browsers and apps reach the service, and the return URL registered
# for the Services ID (Apple posts the sign-in there).
public_url = {public}
redirect_uri = {redirect}
# Where the service listens (behind your TLS-terminating proxy).
listen = {listen}
# Origins the browser may be sent back to after a sign-in (return_to).
allowed_return_origins = {origins}

# SQLite beside this file. The service's own keys (signing its tokens,
# encrypting Apple's refresh tokens at rest) are in {keys_file} beside
# it (mode 0600; keep it with the database, and back both up together).
# For several replicas use postgres://... with session_key and encryption_key
# (siwa serve --print-new-keys makes them).
database_url = {database}
{apple}

# Safe defaults, written out so that they can be seen:
scope = "name email"          # what Apple asks the user to share
native_nonce = "required"     # an app's identity token must carry SHA-256 of its nonce
link_by_email = false         # never join two Apple identities by email
access_token_ttl = 900        # 15 minutes
session_ttl = 2592000         # 30 days, renewed by each refresh
session_max_age = 7776000     # 90 days from the sign-in, however often refreshed
refresh_reuse_grace_secs = 0  # a reused refresh token ends its session at once
# trusted_proxies = 1         # reverse proxies in front, to tell clients apart for the rate limits

# An OpenID Provider in front of Sign in with Apple, for apps that speak
# OpenID Connect (README.md, "Use siwa as your app's OpenID Provider"):
# [oidc]
# [[oidc.client]]
# id = "wiki"
# secret = "..."              # openssl rand -base64 32
# redirect_uris = ["https://wiki.example.com/oauth/callback"]
"#,
            date = self.now.iso8601(),
            config = shell_word(&self.config.display().to_string()),
            team = q(a.team_id.as_str()),
            kid = q(a.key_id.as_str()),
            key = q(&a.key_path.display().to_string()),
            client = q(a.client_id.as_str()),
            bundles = list(&bundles),
            public = q(&a.public_url),
            redirect = q(&self.redirect_uri),
            listen = q(&self.listen),
            origins = list(&[origin]),
            keys_file = KEY_FILE_NAME,
            database = q(&self.database_url),
        )
    }

    /// What was written, the portal steps, and the command that starts the service.
    pub(crate) fn report(&self, keys: KeysFile) -> String {
        let a = self.answers;
        let host = host_of(&a.public_url);
        let mut out = String::new();
        let keys_path = self.dir.join(KEY_FILE_NAME);
        let _ = writeln!(out, "Checked: the key {} (Key ID {}) signs a client secret for team {} that the doctor passes for {}.",
            a.key_label, a.key_id, a.team_id,
            std::iter::once(a.client_id.as_str()).chain(a.bundle_ids.iter().map(|b| b.as_str())).collect::<Vec<_>>().join(", "));
        let _ = writeln!(out, "Wrote {} (mode 0600).", self.config.display());
        let _ = match keys {
            KeysFile::Created => writeln!(
                out,
                "Wrote {} (mode 0600): the service's own keys.",
                keys_path.display()
            ),
            KeysFile::Kept => writeln!(
                out,
                "Kept {}: it already holds the service's keys.",
                keys_path.display()
            ),
        };
        let _ = writeln!(
            out,
            "\nIn Apple's developer portal (Certificates, Identifiers & Profiles):"
        );
        let _ = writeln!(
            out,
            "  1. Identifiers > Services IDs > {}: enable Sign in with Apple, Configure:",
            a.client_id
        );
        let _ = writeln!(
            out,
            "       Primary App ID:        your app's App ID (team {})",
            a.team_id
        );
        let _ = writeln!(out, "       Domains and Subdomains: {host}");
        let _ = writeln!(out, "       Return URLs:           {}", self.redirect_uri);
        let _ = writeln!(
            out,
            "  2. Identifiers > App IDs > that primary App ID > Sign in with Apple > Edit:"
        );
        let _ = writeln!(
            out,
            "       Server-to-Server Notification Endpoint: {}/auth/apple/notifications",
            a.public_url
        );
        let _ = writeln!(
            out,
            "  3. Keys > {}: Sign in with Apple enabled, configured for that primary App ID.",
            a.key_id
        );
        for bundle in &a.bundle_ids {
            let _ = writeln!(out, "  -  Identifiers > App IDs > {bundle}: Sign in with Apple enabled (grouped with the primary App ID).");
        }
        if !a.public_url.starts_with("https://") {
            let _ = writeln!(out, "  Apple registers only https return URLs on a real domain: {} suits a rehearsal on the emulator (siwa emulator).", a.public_url);
        }
        let _ = writeln!(
            out,
            "\nStart the service:\n  siwa serve --config {}",
            shell_word(&self.config.display().to_string())
        );
        out
    }
}

/// A TOML basic string (JSON's escapes are TOML's).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// `text` as one shell word.
fn shell_word(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:@".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// `scheme://authority` of a URL.
fn origin_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest)),
        None => url.to_owned(),
    }
}

/// The host of a URL, without port.
fn host_of(url: &str) -> String {
    let authority = origin_of(url);
    let authority = authority
        .split_once("://")
        .map_or(authority.as_str(), |(_, a)| a);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6).to_owned();
    }
    authority.split(':').next().unwrap_or(authority).to_owned()
}

/// Where to listen for a public URL: its own port on a loopback address
/// (a local rehearsal), else 127.0.0.1:8080 behind a reverse proxy.
fn listen_for(public_url: &str) -> String {
    let authority = origin_of(public_url);
    let (scheme, authority) = authority.split_once("://").unwrap_or(("https", &authority));
    let host = host_of(public_url);
    let port = authority
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()) && !port.is_empty())
        .map(|(_, port)| port.to_owned())
        .unwrap_or_else(|| if scheme == "https" { "443" } else { "80" }.to_owned());
    match host.as_str() {
        "127.0.0.1" | "localhost" => format!("127.0.0.1:{port}"),
        "::1" => format!("[::1]:{port}"),
        _ => "127.0.0.1:8080".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_listen_on_their_port_others_behind_a_proxy() {
        assert_eq!(listen_for("http://127.0.0.1:8123"), "127.0.0.1:8123");
        assert_eq!(listen_for("http://localhost"), "127.0.0.1:80");
        assert_eq!(listen_for("http://[::1]:9000/x"), "[::1]:9000");
        assert_eq!(listen_for("https://login.example.com"), "127.0.0.1:8080");
        assert_eq!(
            host_of("https://login.example.com:8443/a"),
            "login.example.com"
        );
        assert_eq!(
            origin_of("https://login.example.com/a/b"),
            "https://login.example.com"
        );
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("/etc/siwa/siwa.toml"), "/etc/siwa/siwa.toml");
        assert_eq!(shell_word("/tmp/my dir/it's"), r"'/tmp/my dir/it'\''s'");
    }
}
