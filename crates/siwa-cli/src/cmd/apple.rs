//! What `exchange`, `refresh`, `revoke`, `authorize-url` and `doctor --probe`
//! share: where Apple is, a client with a fresh secret, a runtime, and turning
//! Apple's answers into output and exit codes.

use std::future::Future;
use std::io::Read;
use std::sync::Arc;

use siwa_kit::client::{
    Api, AppleClient, ClientError, ClientSecretText, Endpoints, TokenResponse, APPLE_BASE_URL,
};
use siwa_kit::clock::{Clock, SystemClock};
use siwa_kit::doctor::{Check, CheckId};
use siwa_kit::http::ReqwestClient;
use siwa_kit::ids::ClientId;
use siwa_kit::jws::{self, Segment};
use siwa_kit::secret::ClientSecretBuilder;

use crate::args::{ApiArg, AppleArgs, EndpointArgs, IdentityArgs};
use crate::cmd::secret::identity;
use crate::failure::Failure;
use crate::settings::{load_private_key, setting};

/// Lifetime of the secret a command signs for its one request.
const SECRET_TTL_SECS: u64 = 600;
/// More than any token or code; bounds what is read from stdin.
const MAX_STDIN_LEN: u64 = 64 * 1024;

/// The endpoints from `--apple-url` (or SIWA_APPLE_BASE_URL) and `--api`.
pub(crate) fn endpoints(args: EndpointArgs) -> Result<Endpoints, Failure> {
    let api = match args.api {
        ApiArg::SignInWithApple => Api::SignInWithApple,
        ApiArg::OrgDataSharing => Api::OrgDataSharing,
    };
    let base =
        setting(args.apple_url, "SIWA_APPLE_BASE_URL").unwrap_or_else(|| APPLE_BASE_URL.to_owned());
    Endpoints::new(&base, api).map_err(|e| Failure::usage(format!("--apple-url: {e}"), e.hint()))
}

/// A client for the client id of the flags, with a secret signed now from the key.
pub(crate) fn client(args: AppleArgs) -> Result<AppleClient, Failure> {
    let loaded = load_private_key(args.key)?;
    let (team_id, key_id, client_id) = identity(args.ids, loaded.file_kid.as_ref())?;
    let secret = ClientSecretBuilder::new(team_id, key_id, client_id.clone())
        .ttl_secs(SECRET_TTL_SECS)
        .and_then(|b| b.sign(&loaded.key, SystemClock.now()))
        .map_err(|e| Failure::usage(&e, e.hint()))?;
    Ok(AppleClient::new(client_id, secret, http()?).endpoints(endpoints(args.endpoint)?))
}

/// The HTTP client: rustls, redirects off, 10 s timeout, 1 MiB body cap.
pub(crate) fn http() -> Result<Arc<ReqwestClient>, Failure> {
    ReqwestClient::new()
        .map(Arc::new)
        .map_err(|e| Failure::usage(format!("cannot set up HTTPS: {e}"), e.hint()))
}

/// Runs a future on a current-thread runtime.
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("cannot start the async runtime: {e}"), ""))?;
    Ok(runtime.block_on(future))
}

/// A flag's value, or stdin for `-` (bounded, trimmed).
pub(crate) fn value_or_stdin(value: String, flag: &str) -> Result<String, Failure> {
    let value = if value == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .take(MAX_STDIN_LEN + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::usage(format!("cannot read {flag} from stdin: {e}"), ""))?;
        if bytes.len() as u64 > MAX_STDIN_LEN {
            return Err(Failure::usage(
                format!("stdin holds more than {MAX_STDIN_LEN} bytes: not a {flag}"),
                "pipe only the value",
            ));
        }
        String::from_utf8(bytes)
            .map_err(|_| Failure::usage("stdin is not UTF-8 text", "pipe only the value"))?
    } else {
        value
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(Failure::usage(
            format!("{flag} is empty"),
            "pass the value, or `-` and pipe it in",
        ));
    }
    Ok(value.to_owned())
}

/// Apple's error: exit 1 with its code and hint; no answer or bad settings:
/// exit 2. No message holds a token.
pub(crate) fn failure(error: ClientError) -> Failure {
    let hint = error.hint();
    match &error {
        ClientError::Apple { .. } | ClientError::Unexpected { .. } => {
            Failure::Judged(format!("error: {}\n  hint: {hint}", chain(&error)))
        }
        _ => Failure::usage(chain(&error), hint),
    }
}

/// The error and its causes, on one line.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        // Some errors repeat their cause's text in their own; say it once.
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Prints Apple's token answer in Apple's shape (indented, or one line with `--json`).
pub(crate) fn print_tokens(tokens: &TokenResponse, one_line: bool) {
    let mut out = serde_json::Map::new();
    out.insert("access_token".into(), tokens.access_token.secret().into());
    out.insert("token_type".into(), tokens.token_type.as_str().into());
    out.insert("expires_in".into(), tokens.expires_in.into());
    if let Some(refresh) = &tokens.refresh_token {
        out.insert("refresh_token".into(), refresh.secret().into());
    }
    out.insert("id_token".into(), tokens.id_token.secret().into());
    let out = serde_json::Value::Object(out);
    if one_line {
        println!("{out}");
    } else {
        println!("{out:#}");
    }
}

/// The `apple.probe` check of `siwa doctor --probe`: the token endpoint gets
/// `token` as client_secret with a made-up code. The client id is the given
/// one, else the token's `sub`.
pub(crate) fn probe(
    token: &str,
    client_id: Option<&str>,
    endpoint: EndpointArgs,
) -> Result<Check, Failure> {
    let endpoints = endpoints(endpoint)?;
    let token = token.trim();
    let Some(client_id) = client_id.map(str::to_owned).or_else(|| sub_of(token)) else {
        return Ok(Check::skip(
            CheckId::AppleProbe,
            "no client id to ask Apple with: none given, and the secret has no readable sub",
            "pass --client-id (or set SIWA_CLIENT_ID)",
        ));
    };
    let client_id = match ClientId::new(client_id) {
        Ok(id) => id,
        Err(e) => {
            return Ok(Check::skip(
                CheckId::AppleProbe,
                format!("cannot ask Apple: {e}"),
                e.hint(),
            ))
        }
    };
    let token_uri = endpoints.token_uri().to_string();
    let apple =
        AppleClient::new(client_id, ClientSecretText::new(token), http()?).endpoints(endpoints);
    let mut check = block_on(apple.probe())?;
    check.message = format!("{} [POST {token_uri}]", check.message);
    Ok(check)
}

/// The client_secret `siwa doctor` makes when given none: from the same flags
/// and SIWA_* settings as `siwa secret`. `None` when no private key is given.
pub(crate) fn own_secret(ids: &IdentityArgs, key: Option<&str>) -> Result<Option<String>, Failure> {
    if key.is_none() && setting(None, "SIWA_PRIVATE_KEY").is_none() {
        return Ok(None);
    }
    let loaded = load_private_key(key.map(str::to_owned))?;
    let ids = IdentityArgs {
        team_id: ids.team_id.clone(),
        key_id: ids.key_id.clone(),
        client_id: ids.client_id.clone(),
    };
    let (team_id, key_id, client_id) = identity(ids, loaded.file_kid.as_ref())?;
    let secret = ClientSecretBuilder::new(team_id, key_id, client_id)
        .ttl_secs(SECRET_TTL_SECS)
        .and_then(|b| b.sign(&loaded.key, SystemClock.now()))
        .map_err(|e| Failure::usage(&e, e.hint()))?;
    Ok(Some(secret.secret().to_owned()))
}

/// The `sub` claim of a JWT, unverified.
fn sub_of(token: &str) -> Option<String> {
    let payload = jws::split(token).ok()?.decode(Segment::Payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}
