//! `siwa verify`: the verdict on an identity token (or, with
//! `--notification`, on a server-to-server notification) against a key set
//! from a file or a URL.
//!
//! Exit 0: valid, the claims are printed. Exit 1: invalid, the reason and a
//! hint on stderr; this includes an input that is no token at all (empty,
//! larger than any token, not text). Exit 2: usage or configuration (no
//! token given, no client id, unreadable or unreachable key set), checked
//! before the input is judged.

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::sync::Arc;

use siwa_kit::claims::{Nonce, RealUserStatus};
use siwa_kit::clock::{Clock, FixedClock, SystemClock, UnixTime};
use siwa_kit::http::ReqwestClient;
use siwa_kit::id_token::NoncePolicy;
use siwa_kit::ids::ClientId;
use siwa_kit::jwks::KeyCache;
use siwa_kit::notification::{Notification, NotificationError};
use siwa_kit::{Claims, Verifier};

use crate::failure::{Failure, Outcome};
use crate::settings::setting;

/// More than any token or notification body; bounds what is read from stdin.
const MAX_INPUT_LEN: u64 = 1024 * 1024;
/// More than any key set; bounds a key set file.
const MAX_JWKS_FILE_LEN: u64 = 256 * 1024;

/// `siwa verify [TOKEN|-] --jwks FILE|URL --client-id C [--client-id C2 ...]`.
#[derive(clap::Args, Debug)]
pub(crate) struct VerifyArgs {
    /// The identity token, or `-` to read it from stdin (the default when stdin is not a terminal).
    #[arg(value_name = "TOKEN|-")]
    pub(crate) token: Option<String>,
    /// Apple's keys: a saved /auth/keys response (a file), or a URL such as
    /// https://appleid.apple.com/auth/keys.
    #[arg(long, value_name = "FILE|URL")]
    pub(crate) jwks: String,
    /// An accepted audience: the Services ID (web) or a bundle ID (native); repeat
    /// for several (env SIWA_CLIENT_ID).
    #[arg(long = "client-id", value_name = "CLIENT_ID")]
    pub(crate) client_id: Vec<String>,
    /// The nonce the token must carry, exactly (the web flow's nonce).
    #[arg(long, value_name = "NONCE", conflicts_with_all = ["raw_nonce", "notification"])]
    pub(crate) nonce: Option<String>,
    /// The raw nonce an iOS app kept: the token must carry its SHA-256, in hex.
    #[arg(long, value_name = "RAW", conflicts_with = "notification")]
    pub(crate) raw_nonce: Option<String>,
    /// Judge the token at this Unix time (seconds) instead of now.
    #[arg(long, value_name = "UNIX")]
    pub(crate) now: Option<u64>,
    /// Allowance for clock skew on exp, iat and nbf, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = siwa_kit::id_token::DEFAULT_LEEWAY_SECS)]
    pub(crate) leeway: u64,
    /// The issuer iss must equal, byte for byte.
    #[arg(long, value_name = "ISS", default_value = siwa_kit::id_token::APPLE_ISSUER)]
    pub(crate) issuer: String,
    /// Print the normalised claims (or the notification's event) as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Judge a server-to-server notification (its JWT, or the body {"payload":"..."}).
    #[arg(long)]
    pub(crate) notification: bool,
}

pub(crate) fn run(args: VerifyArgs) -> Outcome {
    let input = read_input(args.token.as_deref())?;
    let what = if args.notification {
        "notification"
    } else {
        "identity token"
    };
    let audiences = audiences(&args.client_id)?;
    let clock: Arc<dyn Clock> = match args.now {
        Some(secs) => Arc::new(FixedClock(UnixTime::from_secs(secs))),
        None => Arc::new(SystemClock),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("cannot start the async runtime: {e}"), ""))?;
    let keys = runtime.block_on(key_cache(&args.jwks, Arc::clone(&clock)))?;
    let verifier = Verifier::new(Arc::new(keys), audiences)
        .issuer(args.issuer)
        .leeway_secs(args.leeway)
        .clock(clock);
    let input = match input {
        Input::Text(text) => text,
        Input::NotAToken { reason, hint } => {
            return Err(judged(what, &reason, hint, None, args.json, false))
        }
    };
    if args.notification {
        let result = runtime.block_on(verify_notification(&verifier, &input));
        return match result {
            Ok(notification) => {
                print_notification(&notification, args.json);
                Ok(())
            }
            Err(e) => Err(judged(
                what,
                &e.to_string(),
                e.hint(),
                claim_of(&e),
                args.json,
                unavailable_n(&e),
            )),
        };
    }
    let policy = match (args.nonce, args.raw_nonce) {
        (Some(nonce), _) => NoncePolicy::Exact(Nonce::new(nonce)),
        (None, Some(raw)) => NoncePolicy::Sha256OfRaw(Nonce::new(raw)),
        (None, None) => NoncePolicy::Unchecked,
    };
    match runtime.block_on(verifier.verify_with_nonce(&input, &policy)) {
        Ok(claims) => {
            print_claims(&claims, &policy, args.json);
            Ok(())
        }
        Err(e) => Err(judged(
            what,
            &e.to_string(),
            e.hint(),
            e.claim(),
            args.json,
            e.is_unavailable(),
        )),
    }
}

/// What was given to judge.
enum Input {
    /// The token (or notification body), trimmed.
    Text(String),
    /// An input that was read but is no token at all: a verdict (exit 1),
    /// given once the configuration has been checked.
    NotAToken {
        /// What is wrong with it.
        reason: String,
        /// What to do about it.
        hint: &'static str,
    },
}

/// The token from the argument, or stdin for `-` or no argument on a pipe.
/// Only a missing token or an unreadable stdin is a usage error.
fn read_input(arg: Option<&str>) -> Result<Input, Failure> {
    let input = match arg {
        Some("-") => read_stdin()?,
        Some(token) => Input::Text(token.to_owned()),
        None if !std::io::stdin().is_terminal() => read_stdin()?,
        None => {
            return Err(Failure::usage(
                "no token given",
                "pass the identity token as an argument, or `-` to read it from stdin",
            ))
        }
    };
    Ok(match input {
        Input::Text(text) if text.trim().is_empty() => Input::NotAToken {
            reason: "the input is empty".to_owned(),
            hint: "pass the identity token Apple issued (with --notification, the body Apple POSTed or its payload)",
        },
        Input::Text(text) => Input::Text(text.trim().to_owned()),
        refused => refused,
    })
}

/// Stdin, reading at most one byte past [`MAX_INPUT_LEN`].
fn read_stdin() -> Result<Input, Failure> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(MAX_INPUT_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::usage(format!("cannot read stdin: {e}"), ""))?;
    if bytes.len() as u64 > MAX_INPUT_LEN {
        return Ok(Input::NotAToken {
            reason: format!(
                "stdin holds more than {MAX_INPUT_LEN} bytes, more than any token or notification body"
            ),
            hint: "pipe only the token (with --notification, the body Apple POSTed or its payload)",
        });
    }
    Ok(match String::from_utf8(bytes) {
        Ok(text) => Input::Text(text),
        Err(e) => Input::NotAToken {
            reason: format!(
                "stdin is not UTF-8 text (byte {} is not), so it is no token",
                e.utf8_error().valid_up_to()
            ),
            hint: "pipe only the token: a JWT is ASCII text",
        },
    })
}

/// `--client-id` values, else `SIWA_CLIENT_ID` (comma-separated).
fn audiences(flags: &[String]) -> Result<Vec<ClientId>, Failure> {
    let values: Vec<String> = if flags.is_empty() {
        setting(None, "SIWA_CLIENT_ID")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        flags.to_vec()
    };
    if values.is_empty() {
        return Err(Failure::usage(
            "no client id given: a token is valid only for the audiences you accept",
            "pass --client-id with your Services ID (web) and again with each bundle ID (native), or set SIWA_CLIENT_ID",
        ));
    }
    values
        .into_iter()
        .map(|v| {
            ClientId::new(v).map_err(|e| Failure::usage(format!("--client-id: {e}"), e.hint()))
        })
        .collect()
}

/// A fixed set from a file, or the set at a URL fetched now.
async fn key_cache(source: &str, clock: Arc<dyn Clock>) -> Result<KeyCache, Failure> {
    if source.starts_with("https://") || source.starts_with("http://") {
        let url: http::Uri = source
            .parse()
            .map_err(|e| Failure::usage(format!("--jwks: {source:?} is not a URL: {e}"), ""))?;
        let http =
            ReqwestClient::new().map_err(|e| Failure::usage(format!("--jwks: {e}"), e.hint()))?;
        let cache = KeyCache::remote(url, Arc::new(http)).clock(clock);
        cache.refresh().await.map_err(|e| {
            let cause = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.to_string());
            Failure::usage(format!("--jwks: {cause}"), e.hint())
        })?;
        return Ok(cache);
    }
    let path = Path::new(source);
    let bytes = read_jwks_file(path)?;
    KeyCache::from_json(&bytes)
        .map_err(|e| Failure::usage(format!("--jwks {}: {e}", path.display()), e.hint()))
}

fn read_jwks_file(path: &Path) -> Result<Vec<u8>, Failure> {
    let shown = path.display();
    let hint = "pass a file holding the JSON of https://appleid.apple.com/auth/keys, or that URL";
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::usage(format!("--jwks: cannot read {shown}: {e}"), hint))?;
    let mut bytes = Vec::new();
    file.take(MAX_JWKS_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::usage(format!("--jwks: cannot read {shown}: {e}"), hint))?;
    if bytes.len() as u64 > MAX_JWKS_FILE_LEN {
        return Err(Failure::usage(
            format!("--jwks: {shown} is larger than {MAX_JWKS_FILE_LEN} bytes: not a key set"),
            hint,
        ));
    }
    Ok(bytes)
}

async fn verify_notification(
    verifier: &Verifier,
    input: &str,
) -> Result<Notification, NotificationError> {
    if input.starts_with('{') {
        verifier.verify_notification_body(input.as_bytes()).await
    } else {
        verifier.verify_notification(input).await
    }
}

fn claim_of(e: &NotificationError) -> Option<&'static str> {
    match e {
        NotificationError::Token(e) => e.claim(),
        NotificationError::Events(e) => Some(e.claim()),
        _ => None,
    }
}

fn unavailable_n(e: &NotificationError) -> bool {
    matches!(e, NotificationError::Token(e) if e.is_unavailable())
}

/// The verdict for a rejected input: exit 1, or 2 when the keys could not
/// be had (nothing was judged).
fn judged(
    what: &str,
    reason: &str,
    hint: &str,
    claim: Option<&str>,
    json: bool,
    unavailable: bool,
) -> Failure {
    if unavailable {
        return Failure::usage(format!("cannot judge the {what}: {reason}"), hint);
    }
    if json {
        let verdict =
            serde_json::json!({"valid": false, "claim": claim, "error": reason, "hint": hint});
        println!(
            "{}",
            serde_json::to_string_pretty(&verdict).unwrap_or_default()
        );
    }
    Failure::Judged(format!("invalid {what}: {reason}\n  hint: {hint}"))
}

fn print_claims(claims: &Claims, policy: &NoncePolicy, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(claims).unwrap_or_default()
        );
        return;
    }
    println!("valid identity token");
    let row = |name: &str, value: &str| println!("  {name:<18}{value}");
    row("sub", claims.sub());
    row("aud", claims.audience());
    row("iss", claims.issuer());
    row("issued at", &claims.issued_at().to_string());
    row("expires at", &claims.expires_at().to_string());
    if let Some(at) = claims.auth_time() {
        row("auth_time", &at.to_string());
    }
    if let Some(email) = claims.email() {
        row("email", email);
    }
    if let Some(verified) = claims.email_verified() {
        row("email_verified", &verified.to_string());
    }
    if let Some(private) = claims.is_private_email() {
        row("is_private_email", &private.to_string());
    }
    if let Some(status) = claims.real_user_status() {
        let name = match status {
            RealUserStatus::Unsupported => "unsupported",
            RealUserStatus::Unknown => "unknown",
            RealUserStatus::LikelyReal => "likely real",
            _ => "other",
        };
        row("real_user_status", &format!("{} ({name})", status.code()));
    }
    let nonce = match (claims.nonce().is_some(), policy) {
        (false, _) => "absent",
        (true, NoncePolicy::Unchecked) => "present, not checked (pass --nonce or --raw-nonce)",
        (true, _) => "present, matches",
    };
    row("nonce", nonce);
    if let Some(supported) = claims.nonce_supported() {
        row("nonce_supported", &supported.to_string());
    }
    for (name, value) in [
        ("at_hash", claims.at_hash()),
        ("c_hash", claims.c_hash()),
        ("transfer_sub", claims.transfer_sub()),
    ] {
        if let Some(value) = value {
            row(name, value);
        }
    }
}

fn print_notification(notification: &Notification, json: bool) {
    let event = notification.event();
    if json {
        let value = serde_json::json!({
            "type": event.kind().as_str(),
            "sub": event.sub(),
            "email": event.email(),
            "is_private_email": event.is_private_email(),
            "event_time": event.event_time_ms(),
            "aud": notification.audience(),
            "jti": notification.jti(),
            "iat": notification.issued_at().secs(),
            "exp": notification.expires_at().secs(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return;
    }
    println!("valid notification: {}", event.kind().as_str());
    let row = |name: &str, value: &str| println!("  {name:<18}{value}");
    row("sub", event.sub());
    if let Some(email) = event.email() {
        row("email", email);
    }
    if let Some(private) = event.is_private_email() {
        row("is_private_email", &private.to_string());
    }
    row(
        "event_time",
        &format!(
            "{} ms ({})",
            event.event_time_ms(),
            event.event_time().iso8601()
        ),
    );
    row("aud", notification.audience());
    row("jti", notification.jti());
    row("issued at", &notification.issued_at().to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judged_failures_exit_1_and_unavailable_keys_exit_2() {
        assert!(matches!(
            judged("identity token", "bad", "fix it", Some("aud"), false, false),
            Failure::Judged(s) if s.contains("invalid identity token: bad") && s.contains("hint: fix it")
        ));
        assert!(matches!(
            judged("identity token", "down", "", None, false, true),
            Failure::Usage { .. }
        ));
    }

    #[test]
    fn client_ids_come_from_flags() {
        let ids = audiences(&["com.example.web".into(), "com.example.ios".into()]).unwrap();
        assert_eq!(ids.len(), 2);
        assert!(matches!(
            audiences(&["bad id".into()]),
            Err(Failure::Usage { .. })
        ));
    }
}
