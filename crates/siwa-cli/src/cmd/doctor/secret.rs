//! `siwa doctor [JWT|-]`: every reason Apple could answer `invalid_client`, checked.

use std::io::{IsTerminal, Read};

use siwa_kit::clock::{Clock, SystemClock, UnixTime};
use siwa_kit::doctor::{Doctor, ExpectedKey};
use siwa_kit::p8::{read_key_file, PublicKey};

use super::report::{conclude, Finding, Findings, Wording};
use crate::args::DoctorArgs;
use crate::cmd::apple::{own_secret, probe};
use crate::failure::{Failure, Outcome};
use crate::settings::{file_label, key_failure, load_private_key, setting};

/// More than any JWT; bounds what is read from stdin.
const MAX_INPUT_LEN: u64 = 1024 * 1024;

pub(crate) fn run(args: DoctorArgs) -> Outcome {
    let token = match read_token(args.token.as_deref())? {
        Some(token) => token,
        None => own_secret(&args.ids, args.key.as_deref())?.ok_or_else(|| {
            Failure::usage(
                "no client_secret given",
                "pass it as an argument or `-` to read it from stdin, or give the key and ids (--key, --team-id, --client-id or SIWA_*) to check a secret made from them",
            )
        })?,
    };
    let mut doctor = Doctor::new();
    if let Some(team) = setting(args.ids.team_id, "SIWA_TEAM_ID") {
        doctor = doctor.team_id(team);
    }
    if let Some(kid) = setting(args.ids.key_id, "SIWA_KEY_ID") {
        doctor = doctor.key_id(kid);
    }
    let client_id = setting(args.ids.client_id, "SIWA_CLIENT_ID");
    if let Some(client) = client_id.clone() {
        doctor = doctor.client_id(client);
    }
    if let Some(key) = expected_key(args.key, args.public_key)? {
        doctor = doctor.key(key);
    }
    let now = args
        .now
        .map(UnixTime::from_secs)
        .unwrap_or_else(|| SystemClock.now());
    let mut report = doctor.examine(&token, now);
    if args.probe {
        report.push(probe(&token, client_id.as_deref(), args.endpoint)?);
    }
    let findings = Findings::new(report.checks.into_iter().map(Finding::from).collect());
    conclude(
        &findings,
        args.json,
        &Wording {
            title: "siwa doctor: client_secret checks".to_owned(),
            failed: "Apple will answer invalid_client.",
            warned: "Apple should accept it, but read them.",
            passed: "All checks passed: Apple should accept this secret.",
            skipped: "",
        },
    )
}

/// The token from the argument, or stdin for `-` or no argument on a pipe;
/// `None` when there is no argument and nothing on stdin.
fn read_token(arg: Option<&str>) -> Result<Option<String>, Failure> {
    match arg {
        Some("-") => read_stdin().map(Some),
        Some(token) => Ok(Some(token.to_owned())),
        None if !std::io::stdin().is_terminal() => {
            read_stdin().map(|text| Some(text).filter(|t| !t.trim().is_empty()))
        }
        None => Ok(None),
    }
}

fn read_stdin() -> Result<String, Failure> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(MAX_INPUT_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::usage(format!("cannot read stdin: {e}"), ""))?;
    if bytes.len() as u64 > MAX_INPUT_LEN {
        return Err(Failure::usage(
            format!("stdin holds more than {MAX_INPUT_LEN} bytes: not a client_secret"),
            "pipe only the JWT",
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| Failure::usage("stdin is not UTF-8 text", "pipe only the JWT"))
}

fn expected_key(
    key: Option<String>,
    public_key: Option<std::path::PathBuf>,
) -> Result<Option<ExpectedKey>, Failure> {
    if let Some(path) = public_key {
        let bytes = read_key_file(&path).map_err(key_failure)?;
        let text = String::from_utf8_lossy(&bytes);
        let public = PublicKey::from_pem(&text)
            .map_err(|e| Failure::usage(format!("{}: {e}", path.display()), e.hint()))?;
        return Ok(Some(ExpectedKey::new(public, file_label(&path), None)));
    }
    if key.is_none() && setting(None, "SIWA_PRIVATE_KEY").is_none() {
        return Ok(None);
    }
    let loaded = load_private_key(key)?;
    Ok(Some(ExpectedKey::new(
        loaded.key.public_key().clone(),
        loaded.label,
        loaded.file_kid,
    )))
}
