//! `siwa secret`: print a client_secret Apple accepts.

use std::io::IsTerminal;

use siwa_kit::clock::{Clock, SystemClock, UnixTime};
use siwa_kit::ids::{ClientId, KeyId, TeamId};
use siwa_kit::secret::{ClientSecretBuilder, MAX_TTL_SECS};

use crate::args::{IdentityArgs, SecretArgs};
use crate::failure::{Failure, Outcome};
use crate::settings::{load_private_key, setting};

pub(crate) fn run(args: SecretArgs) -> Outcome {
    let ttl = parse_ttl(&args.ttl)?;
    let loaded = load_private_key(args.key)?;
    let (team_id, key_id, client_id) = identity(args.ids, loaded.file_kid.as_ref())?;
    if let Some(file_kid) = loaded.file_kid.as_ref().filter(|f| **f != key_id) {
        eprintln!(
            "warning: Key ID {key_id} differs from the key file's name ({}, Key ID {file_kid}); Apple will answer invalid_client unless {key_id} is really this key's id",
            loaded.label
        );
    }
    let builder = ClientSecretBuilder::new(team_id, key_id, client_id)
        .ttl_secs(ttl)
        .map_err(|e| Failure::usage(&e, e.hint()))?;
    let now = args
        .now
        .map(UnixTime::from_secs)
        .unwrap_or_else(|| SystemClock.now());
    let secret = builder
        .sign(&loaded.key, now)
        .map_err(|e| Failure::usage(&e, e.hint()))?;
    if args.json {
        let out = serde_json::json!({
            "client_secret": secret.secret(),
            "expires_at": secret.expires_at().secs(),
            "expires_at_iso": secret.expires_at().iso8601(),
            "ttl": ttl,
        });
        println!("{out}");
    } else {
        println!("{}", secret.secret());
        if std::io::stderr().is_terminal() {
            eprintln!(
                "expires {} ({} days from now); make a new one before then",
                secret.expires_at().iso8601(),
                secret.expires_at().secs().saturating_sub(now.secs()) / 86_400
            );
        }
    }
    Ok(())
}

/// Team ID, Key ID and client id from flags, environment, or the key file's name.
pub(crate) fn identity(
    ids: IdentityArgs,
    file_kid: Option<&KeyId>,
) -> Result<(TeamId, KeyId, ClientId), Failure> {
    let team_id = setting(ids.team_id, "SIWA_TEAM_ID").ok_or_else(|| {
        Failure::usage(
            "no Team ID given",
            "pass --team-id or set SIWA_TEAM_ID (the Membership page of developer.apple.com shows it)",
        )
    })?;
    let team_id = TeamId::new(team_id).map_err(|e| Failure::usage(&e, e.hint()))?;
    let key_id = match setting(ids.key_id, "SIWA_KEY_ID") {
        Some(kid) => KeyId::new(kid).map_err(|e| Failure::usage(&e, e.hint()))?,
        None => file_kid.cloned().ok_or_else(|| {
            Failure::usage(
                "no Key ID given, and the key file name is not AuthKey_<KEYID>.p8",
                "pass --key-id or set SIWA_KEY_ID (the Keys page of developer.apple.com shows it)",
            )
        })?,
    };
    let client_id = setting(ids.client_id, "SIWA_CLIENT_ID").ok_or_else(|| {
        Failure::usage(
            "no client id given",
            "pass --client-id or set SIWA_CLIENT_ID: the Services ID (web) or the bundle ID (native app)",
        )
    })?;
    let client_id = ClientId::new(client_id).map_err(|e| Failure::usage(&e, e.hint()))?;
    Ok((team_id, key_id, client_id))
}

/// `600`, `600s`, `10m`, `12h`, `180d`, `2w` -> seconds, within Apple's limit.
pub(crate) fn parse_ttl(text: &str) -> Result<u64, Failure> {
    let hint = format!("give seconds or a number with s, m, h, d or w (e.g. 10m, 180d); at most {MAX_TTL_SECS} s (about 6 months)");
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    let scale: u64 = match unit.trim() {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(Failure::usage(format!("invalid --ttl {text:?}"), hint)),
    };
    let secs = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| Failure::usage(format!("invalid --ttl {text:?}"), hint.clone()))?;
    if secs == 0 || secs > MAX_TTL_SECS {
        return Err(Failure::usage(
            format!(
                "--ttl {text} is {secs} s; Apple accepts 1 to {MAX_TTL_SECS} s (about 6 months)"
            ),
            hint,
        ));
    }
    Ok(secs)
}
