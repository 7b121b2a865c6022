//! Apple's judgement of a `client_secret`, written independently of
//! siwa-kit's doctor so that a bug in one cannot hide in the other.
//!
//! The rules (APPLE-PROTOCOL.md): ES256; a `kid` of the team that owns the
//! client; `iss` = Team ID; `aud` = `https://appleid.apple.com`; `sub` =
//! client_id; `iat` not in the future (a small skew allowed); not expired;
//! `exp - iat` <= 15777000; a valid 64-byte signature. Anything else is
//! `invalid_client`, and the reason goes to the log and `X-Emulator-Reason`.

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use crate::config::Team;
use crate::reply::{Form, Refusal};
use crate::App;

/// Checks client_id and client_secret as Apple does (the secret of the team
/// that owns the app now); returns the client id.
pub(crate) fn authenticate<'f>(app: &App, form: &'f Form) -> Result<&'f str, Refusal> {
    let client_id = form.require("client_id")?;
    let secret = form.require("client_secret")?;
    let Some((team, _)) = app.client(client_id) else {
        return Err(Refusal::new(
            "invalid_client",
            format!("client_id {client_id:?} is not configured"),
        ));
    };
    judge(secret, client_id, team, app.now().secs())
        .map_err(|reason| Refusal::new("invalid_client", reason))?;
    Ok(client_id)
}

/// How far in the future an `iat` may be.
const IAT_SKEW_SECS: i64 = 60;
/// Apple's limit on `exp - iat`.
const MAX_LIFETIME_SECS: i64 = 15_777_000;
/// Longer than any client secret.
const MAX_SECRET_LEN: usize = 8 * 1024;

/// Judges `secret` for `client_id` of `team` at `now`; `Err` holds the reason.
pub(crate) fn judge(secret: &str, client_id: &str, team: &Team, now: u64) -> Result<(), String> {
    if secret.len() > MAX_SECRET_LEN {
        return Err(format!("client_secret is {} bytes, too long", secret.len()));
    }
    let segments: Vec<&str> = secret.split('.').collect();
    let [header_b64, claims_b64, sig_b64] = segments.as_slice() else {
        return Err(format!(
            "client_secret has {} segments, not 3",
            segments.len()
        ));
    };
    let header = json_object(header_b64, "header")?;
    let claims = json_object(claims_b64, "payload")?;
    let signature = URL_SAFE_NO_PAD
        .decode(sig_b64)
        .map_err(|_| "signature is not base64url".to_owned())?;

    match header.get("alg").and_then(Value::as_str) {
        Some("ES256") => {}
        other => return Err(format!("alg is {other:?}, not ES256")),
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| "header has no kid".to_owned())?;
    let Some((_, public)) = team.keys.iter().find(|(id, _)| id.as_str() == kid) else {
        return Err(format!("kid {kid} is not a key of team {}", team.id));
    };
    let iss = claims.get("iss").and_then(Value::as_str);
    if iss != Some(team.id.as_str()) {
        return Err(format!("iss is {iss:?}, not the team {}", team.id));
    }
    let aud = claims.get("aud");
    if aud.and_then(Value::as_str) != Some("https://appleid.apple.com") {
        return Err(format!(
            "aud is {}, not \"https://appleid.apple.com\"",
            shown(aud)
        ));
    }
    let sub = claims.get("sub").and_then(Value::as_str);
    if sub != Some(client_id) {
        return Err(format!("sub is {sub:?}, not the client_id {client_id:?}"));
    }
    let iat = integer(&claims, "iat")?;
    let exp = integer(&claims, "exp")?;
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    if iat > now + IAT_SKEW_SECS {
        return Err(format!("iat {iat} is in the future (now {now})"));
    }
    if exp <= now {
        return Err(format!("expired: exp {exp} <= now {now}"));
    }
    if exp - iat > MAX_LIFETIME_SECS {
        return Err(format!("exp - iat = {} > {MAX_LIFETIME_SECS}", exp - iat));
    }
    if signature.len() != 64 {
        return Err(format!(
            "signature is {} bytes, not the 64-byte r||s form",
            signature.len()
        ));
    }
    let signed = &secret.as_bytes()[..header_b64.len() + 1 + claims_b64.len()];
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public.point())
        .verify(signed, &signature)
        .map_err(|_| format!("signature does not verify with key {kid}"))
}

fn json_object(segment: &str, what: &str) -> Result<Map<String, Value>, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| format!("{what} is not base64url"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(format!("{what} is not a JSON object")),
    }
}

/// A claim that must be a JSON integer (not a string, not a float).
fn integer(claims: &Map<String, Value>, name: &str) -> Result<i64, String> {
    match claims.get(name) {
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| format!("{name} is {n}, not an integer")),
        other => Err(format!("{name} is {}, not a number", shown(other))),
    }
}

fn shown(value: Option<&Value>) -> String {
    value.map_or_else(|| "missing".to_owned(), Value::to_string)
}
