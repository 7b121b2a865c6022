//! Why Apple answers `invalid_client`: every check of a `client_secret`, as data.
//!
//! Apple says only `invalid_client`. The [`Doctor`] examines a secret the way
//! Apple does and reports each rule as a [`Check`] with an id, a status, what
//! it found in this token, and a hint a person can act on. It recognises the
//! classic mistakes by name: milliseconds instead of seconds, numbers sent as
//! strings, an `aud` without scheme or with a trailing slash, a `sub` that
//! differs from the client id only by case, a DER signature (the
//! `openssl_sign` mistake), a `kid` that is not the key file's, a secret signed
//! by another key, an expired one, one living past six months, an `iat` in the
//! future.
//!
//! The report never contains the secret or its signature.

mod time_claims;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::clock::UnixTime;
use crate::ids::{ten_char_problem, KeyId};
use crate::jws::{self, Segment};
use crate::p8::PublicKey;
use crate::secret::APPLE_AUDIENCE;

use time_claims::{check_exp, check_iat};

/// The check ids of the `siwa doctor` contract, in report order.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq, Serialize)]
#[non_exhaustive]
pub enum CheckId {
    /// Three base64url segments with JSON header and payload.
    #[serde(rename = "format")]
    Format,
    /// `alg` is ES256.
    #[serde(rename = "header.alg")]
    HeaderAlg,
    /// `kid` is the key's 10-character id.
    #[serde(rename = "header.kid")]
    HeaderKid,
    /// `iss` is the Team ID.
    #[serde(rename = "payload.iss")]
    PayloadIss,
    /// `iat` is a number of seconds, not in the future.
    #[serde(rename = "payload.iat")]
    PayloadIat,
    /// `exp` is a number of seconds, in the future, within six months of `iat`.
    #[serde(rename = "payload.exp")]
    PayloadExp,
    /// `aud` is exactly `https://appleid.apple.com`.
    #[serde(rename = "payload.aud")]
    PayloadAud,
    /// `sub` is the client id.
    #[serde(rename = "payload.sub")]
    PayloadSub,
    /// No claims beyond the five (Apple documents exactly five).
    #[serde(rename = "payload.claims")]
    PayloadClaims,
    /// The signature is the 64-byte `r || s` form.
    #[serde(rename = "signature.encoding")]
    SignatureEncoding,
    /// The signature verifies with the team's key.
    #[serde(rename = "signature.verify")]
    SignatureVerify,
    /// Apple's own verdict (`siwa doctor --probe`).
    #[serde(rename = "apple.probe")]
    AppleProbe,
}

impl CheckId {
    /// The id as the contract spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Format => "format",
            Self::HeaderAlg => "header.alg",
            Self::HeaderKid => "header.kid",
            Self::PayloadIss => "payload.iss",
            Self::PayloadIat => "payload.iat",
            Self::PayloadExp => "payload.exp",
            Self::PayloadAud => "payload.aud",
            Self::PayloadSub => "payload.sub",
            Self::PayloadClaims => "payload.claims",
            Self::SignatureEncoding => "signature.encoding",
            Self::SignatureVerify => "signature.verify",
            Self::AppleProbe => "apple.probe",
        }
    }
}

/// How a check came out.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Apple will reject the secret for this reason.
    Fail,
    /// Fine as far as can be told.
    Pass,
    /// Could not be checked (say, no key given).
    Skip,
    /// Probably accepted, but not as Apple documents it.
    Warn,
}

/// One check: what was found and what to do.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Check {
    /// Which rule.
    pub id: CheckId,
    /// How it came out.
    pub status: Status,
    /// What was found in this token.
    pub message: String,
    /// How to fix it (empty when it passed).
    pub hint: String,
}

impl Check {
    /// A passing check.
    pub fn pass(id: CheckId, message: impl Into<String>) -> Self {
        Self::new(id, Status::Pass, message, "")
    }

    /// A failing check.
    pub fn fail(id: CheckId, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(id, Status::Fail, message, hint)
    }

    /// A warning.
    pub fn warn(id: CheckId, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(id, Status::Warn, message, hint)
    }

    /// A check that could not be made.
    pub fn skip(id: CheckId, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(id, Status::Skip, message, hint)
    }

    fn new(
        id: CheckId,
        status: Status,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            id,
            status,
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// The doctor's verdict: `ok` unless a check failed.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Report {
    /// No check failed.
    pub ok: bool,
    /// Every check, in contract order.
    pub checks: Vec<Check>,
}

impl Report {
    /// Builds a report, computing `ok`.
    pub fn new(checks: Vec<Check>) -> Self {
        let ok = checks.iter().all(|c| c.status != Status::Fail);
        Self { ok, checks }
    }

    /// Adds a check (such as `apple.probe`) and recomputes `ok`.
    pub fn push(&mut self, check: Check) {
        self.ok &= check.status != Status::Fail;
        self.checks.push(check);
    }

    /// The check with this id, if it ran.
    pub fn check(&self, id: CheckId) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }
}

/// The key a secret should verify with, and where it came from.
#[derive(Clone, Debug)]
pub struct ExpectedKey {
    key: PublicKey,
    label: String,
    file_kid: Option<KeyId>,
}

impl ExpectedKey {
    /// `label` names the key in messages (a file name); `file_kid` is the Key
    /// ID read from a file name `AuthKey_<KEYID>.p8`, if any.
    pub fn new(key: PublicKey, label: impl Into<String>, file_kid: Option<KeyId>) -> Self {
        Self {
            key,
            label: label.into(),
            file_kid,
        }
    }
}

/// Examines client secrets against what the caller expects.
#[derive(Clone, Debug, Default)]
pub struct Doctor {
    team_id: Option<String>,
    key_id: Option<String>,
    client_id: Option<String>,
    key: Option<ExpectedKey>,
}

impl Doctor {
    /// A doctor that expects nothing in particular: it checks shapes only.
    pub fn new() -> Self {
        Self::default()
    }

    /// The Team ID `iss` must be.
    pub fn team_id(mut self, team_id: impl Into<String>) -> Self {
        self.team_id = Some(team_id.into());
        self
    }

    /// The Key ID `kid` must be.
    pub fn key_id(mut self, key_id: impl Into<String>) -> Self {
        self.key_id = Some(key_id.into());
        self
    }

    /// The client id `sub` must be.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The key the signature must verify with.
    pub fn key(mut self, key: ExpectedKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Examines `token` as Apple would at time `now`.
    pub fn examine(&self, token: &str, now: UnixTime) -> Report {
        let decoded = match decode(token.trim()) {
            Ok(decoded) => decoded,
            Err(check) => {
                let mut checks = vec![check];
                checks.extend(AFTER_FORMAT.iter().map(|&id| {
                    Check::skip(
                        id,
                        "not checked: the token could not be decoded",
                        "fix the format first",
                    )
                }));
                return Report::new(checks);
            }
        };
        let claims = &decoded.claims;
        Report::new(vec![
            decoded.format.clone(),
            check_alg(&decoded.header),
            self.check_kid(&decoded.header),
            self.check_iss(claims),
            check_iat(claims, now),
            check_exp(claims, now),
            check_aud(claims),
            self.check_sub(claims),
            check_extra_claims(claims),
            check_signature_encoding(&decoded.signature),
            self.check_signature(&decoded),
        ])
    }

    fn check_kid(&self, header: &Map<String, Value>) -> Check {
        const ID: CheckId = CheckId::HeaderKid;
        let kid = match header.get("kid") {
            None => {
                return Check::fail(
                    ID,
                    "the header has no kid",
                    "add \"kid\": the 10-character Key ID of the .p8 you sign with (AuthKey_<KEYID>.p8)",
                )
            }
            Some(Value::String(kid)) => kid,
            Some(other) => {
                return Check::fail(
                    ID,
                    format!("kid is {other}, not a string"),
                    "set \"kid\" to the Key ID as a JSON string",
                )
            }
        };
        if let Some(problem) = ten_char_problem(kid) {
            return Check::fail(
                ID,
                format!("kid {kid:?} is not a Key ID: {problem}"),
                "use the 10-character Key ID from the Keys page (the KEYID in AuthKey_<KEYID>.p8)",
            );
        }
        if let Some(expected) = self.key_id.as_deref().filter(|e| *e != kid) {
            return Check::fail(
                ID,
                format!("kid is {kid} but the expected Key ID is {expected}"),
                format!(
                    "sign with the key {expected} and put \"kid\":\"{expected}\" in the header"
                ),
            );
        }
        if let Some(key) = &self.key {
            if let Some(file_kid) = key.file_kid.as_ref().filter(|f| f.as_str() != kid) {
                return Check::fail(
                    ID,
                    format!(
                        "kid is {kid} but the key file is {} (Key ID {file_kid}): the header names a different key than the one you sign with",
                        key.label
                    ),
                    format!("put \"kid\":\"{file_kid}\" in the header, or sign with AuthKey_{kid}.p8"),
                );
            }
        }
        Check::pass(ID, format!("kid is {kid}"))
    }

    fn check_iss(&self, claims: &Map<String, Value>) -> Check {
        const ID: CheckId = CheckId::PayloadIss;
        const HINT: &str =
            "set \"iss\" to your 10-character Team ID (Membership page of developer.apple.com)";
        let iss = match claims.get("iss") {
            None => return Check::fail(ID, "the payload has no iss", HINT),
            Some(Value::String(iss)) => iss,
            Some(other) => return Check::fail(ID, format!("iss is {other}, not a string"), HINT),
        };
        if let Some(problem) = ten_char_problem(iss) {
            let hint = if iss.contains('.') {
                "iss looks like a client id: iss is the Team ID, sub is the client id"
            } else {
                HINT
            };
            return Check::fail(ID, format!("iss {iss:?} is not a Team ID: {problem}"), hint);
        }
        match self.team_id.as_deref() {
            Some(team) if team != iss => Check::fail(
                ID,
                format!("iss is {iss}, another team than the expected {team}"),
                format!("set \"iss\" to {team}, the team that owns the key and the client id"),
            ),
            _ => Check::pass(ID, format!("iss is {iss}")),
        }
    }

    fn check_sub(&self, claims: &Map<String, Value>) -> Check {
        const ID: CheckId = CheckId::PayloadSub;
        const HINT: &str = "set \"sub\" to the client_id of your request: the Services ID (web) or the bundle ID (native app)";
        let sub = match claims.get("sub") {
            None => return Check::fail(ID, "the payload has no sub", HINT),
            Some(Value::String(sub)) if sub.is_empty() => {
                return Check::fail(ID, "sub is empty", HINT)
            }
            Some(Value::String(sub)) => sub,
            Some(other) => return Check::fail(ID, format!("sub is {other}, not a string"), HINT),
        };
        let Some(client) = self.client_id.as_deref() else {
            if team_prefixed(sub).is_some() {
                return Check::warn(
                    ID,
                    format!("sub {sub:?} starts with what looks like a Team ID"),
                    "the client_id (and so sub) must not include the Team ID prefix",
                );
            }
            return Check::pass(
                ID,
                format!("sub is {sub:?}; it must equal the client_id you send (give the client id to check)"),
            );
        };
        if sub == client {
            Check::pass(ID, format!("sub is {sub:?}, the client id"))
        } else if sub.eq_ignore_ascii_case(client) {
            Check::fail(
                ID,
                format!("sub {sub:?} differs from the client id {client:?} only by case; Apple compares case-sensitively"),
                format!("set \"sub\" to exactly {client:?}"),
            )
        } else if team_prefixed(sub) == Some(client) {
            Check::fail(
                ID,
                format!("sub {sub:?} is the client id with the Team ID in front"),
                format!("set \"sub\" to {client:?}: the client id never includes the Team ID"),
            )
        } else {
            Check::fail(
                ID,
                format!("sub is {sub:?} but the client id is {client:?}"),
                format!("set \"sub\" to {client:?}; for codes from an iOS app use its bundle ID, for the web flow the Services ID"),
            )
        }
    }

    fn check_signature(&self, decoded: &Decoded) -> Check {
        const ID: CheckId = CheckId::SignatureVerify;
        let Some(key) = &self.key else {
            return Check::skip(
                ID,
                "not checked: no key given",
                "pass the key (--key AuthKey_<KEYID>.p8 or --public-key) to check the signature",
            );
        };
        let input = decoded.signing_input.as_bytes();
        let sig = &decoded.signature;
        let other_key_hint = format!(
            "sign with the .p8 whose Key ID is in kid; this does not verify with {}",
            key.label
        );
        if sig.len() == 64 {
            return match jws::verify_es256(&key.key, input, sig) {
                Ok(()) => Check::pass(ID, format!("the signature verifies with {}", key.label)),
                Err(_) => Check::fail(
                    ID,
                    format!("the signature does not verify with {}: the secret was signed by another key, or changed after signing", key.label),
                    other_key_hint,
                ),
            };
        }
        if der_signature(sig) {
            return match jws::verify_es256_der(&key.key, input, sig) {
                Ok(()) => Check::warn(
                    ID,
                    format!("the DER signature verifies with {}: the key is right, only the encoding is wrong", key.label),
                    "fix signature.encoding",
                ),
                Err(_) => Check::fail(
                    ID,
                    format!("the DER signature does not verify with {} either", key.label),
                    other_key_hint,
                ),
            };
        }
        Check::skip(
            ID,
            format!(
                "not checked: a {}-byte signature is no ES256 signature",
                sig.len()
            ),
            "fix header.alg and signature.encoding first",
        )
    }
}

/// The checks that follow `format`, in order.
const AFTER_FORMAT: [CheckId; 10] = [
    CheckId::HeaderAlg,
    CheckId::HeaderKid,
    CheckId::PayloadIss,
    CheckId::PayloadIat,
    CheckId::PayloadExp,
    CheckId::PayloadAud,
    CheckId::PayloadSub,
    CheckId::PayloadClaims,
    CheckId::SignatureEncoding,
    CheckId::SignatureVerify,
];

/// The five claims Apple documents for a client secret.
const KNOWN_CLAIMS: [&str; 5] = ["iss", "iat", "exp", "aud", "sub"];

/// A token taken apart, and the verdict on its format.
struct Decoded {
    format: Check,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signature: Vec<u8>,
    signing_input: String,
}

fn decode(token: &str) -> Result<Decoded, Check> {
    const ID: CheckId = CheckId::Format;
    const HINT: &str = "pass the client_secret itself: three base64url parts joined by dots (header.payload.signature)";
    if token.is_empty() {
        return Err(Check::fail(ID, "the input is empty", HINT));
    }
    let parts = jws::split(token).map_err(|e| {
        let mut message = e.to_string();
        if matches!(e, jws::JwsError::SegmentCount { count: 5 }) {
            message.push_str(" (5 parts is an encrypted JWE, not a signed JWT)");
        }
        Check::fail(ID, message, HINT)
    })?;
    let mut lenient = Vec::new();
    let mut segment = |seg: Segment, text: &str| -> Result<Vec<u8>, Check> {
        jws::decode_segment(text, seg).or_else(|strict| {
            let cleaned: String = text
                .trim_end_matches('=')
                .replace('+', "-")
                .replace('/', "_");
            let bytes = jws::decode_segment(&cleaned, seg)
                .map_err(|_| Check::fail(ID, strict.to_string(), HINT))?;
            lenient.push(strict.to_string());
            Ok(bytes)
        })
    };
    let header = segment(Segment::Header, parts.header())?;
    let payload = segment(Segment::Payload, parts.payload())?;
    let signature = segment(Segment::Signature, parts.signature())?;
    let header = json_object(&header, "header")?;
    let claims = json_object(&payload, "payload")?;
    let format = if lenient.is_empty() {
        Check::pass(
            ID,
            "three base64url segments; header and payload are JSON objects",
        )
    } else {
        Check::warn(
            ID,
            lenient.join("; "),
            "encode each part as base64url without padding (RFC 7515); not every server accepts other forms",
        )
    };
    Ok(Decoded {
        format,
        header,
        claims,
        signature,
        signing_input: String::from_utf8_lossy(parts.signing_input()).into_owned(),
    })
}

fn json_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>, Check> {
    let hint = "the header and the payload must each be a JSON object, base64url-encoded";
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Check::fail(
            CheckId::Format,
            format!(
                "the {what} is JSON but not an object ({})",
                json_kind(&other)
            ),
            hint,
        )),
        Err(e) => Err(Check::fail(
            CheckId::Format,
            format!("the {what} is not valid JSON: {e}"),
            hint,
        )),
    }
}

fn check_alg(header: &Map<String, Value>) -> Check {
    const ID: CheckId = CheckId::HeaderAlg;
    const HINT: &str =
        "sign with ES256 (ECDSA P-256 with SHA-256) using the .p8 key, and set \"alg\":\"ES256\"";
    match header.get("alg") {
        None => Check::fail(ID, "the header has no alg", HINT),
        Some(Value::String(alg)) if alg == "ES256" => Check::pass(ID, "alg is ES256"),
        Some(Value::String(alg)) if alg.eq_ignore_ascii_case("ES256") => Check::fail(
            ID,
            format!("alg is {alg:?}; algorithm names are case-sensitive"),
            "write \"ES256\" exactly",
        ),
        Some(Value::String(alg)) if alg.starts_with("HS") => Check::fail(
            ID,
            format!("alg is {alg}: an HMAC with a shared secret, which Apple cannot verify"),
            "do not use the key text as an HMAC password; sign with ES256 using the .p8 private key",
        ),
        Some(Value::String(alg)) if alg.eq_ignore_ascii_case("none") => {
            Check::fail(ID, "alg is none: the secret is unsigned", HINT)
        }
        Some(Value::String(alg)) => Check::fail(ID, format!("alg is {alg}, not ES256"), HINT),
        Some(other) => Check::fail(ID, format!("alg is {other}, not a string"), HINT),
    }
}

fn check_aud(claims: &Map<String, Value>) -> Check {
    const ID: CheckId = CheckId::PayloadAud;
    let hint = format!("set \"aud\" to exactly \"{APPLE_AUDIENCE}\" (a string)");
    let aud = match claims.get("aud") {
        None => return Check::fail(ID, "the payload has no aud", hint),
        Some(Value::String(aud)) => aud,
        Some(Value::Array(items)) => {
            let has = items.iter().any(|v| v.as_str() == Some(APPLE_AUDIENCE));
            let detail = if has {
                "it holds the right value, but Apple documents a string"
            } else {
                "without Apple's audience"
            };
            return Check::fail(ID, format!("aud is an array ({detail})"), hint);
        }
        Some(other) => return Check::fail(ID, format!("aud is {other}, not a string"), hint),
    };
    if aud == APPLE_AUDIENCE {
        return Check::pass(ID, format!("aud is {APPLE_AUDIENCE}"));
    }
    let lower = aud.trim().to_ascii_lowercase();
    let what = if lower == "appleid.apple.com" || lower == "appleid.apple.com/" {
        "it has no scheme (https://)"
    } else if lower.starts_with("http://appleid.apple.com") {
        "it uses http:// instead of https://"
    } else if lower.starts_with("https://appleid.apple.com/")
        && lower.trim_end_matches('/') == APPLE_AUDIENCE
    {
        "it has a trailing slash"
    } else if lower.starts_with("https://appleid.apple.com/") {
        "it is an endpoint URL, not the audience"
    } else if lower == APPLE_AUDIENCE {
        "it differs in case or whitespace"
    } else {
        "it is not Apple's audience"
    };
    Check::fail(ID, format!("aud is {aud:?}: {what}"), hint)
}

fn check_extra_claims(claims: &Map<String, Value>) -> Check {
    const ID: CheckId = CheckId::PayloadClaims;
    let extra: Vec<&str> = claims
        .keys()
        .map(String::as_str)
        .filter(|k| !KNOWN_CLAIMS.contains(k))
        .collect();
    if extra.is_empty() {
        Check::pass(ID, "no claims beyond iss, iat, exp, aud, sub")
    } else {
        Check::fail(
            ID,
            format!("extra claims: {}; a client secret holds only iss, iat, exp, aud and sub", extra.join(", ")),
            "remove the other claims: Apple documents exactly these five, and extra ones are a known cause of invalid_client",
        )
    }
}

fn check_signature_encoding(sig: &[u8]) -> Check {
    const ID: CheckId = CheckId::SignatureEncoding;
    match sig.len() {
        64 => Check::pass(ID, "the signature is 64 bytes (r || s)"),
        0 => Check::fail(ID, "the signature is empty: the secret is unsigned", "sign it with ES256 using the .p8 key"),
        n if der_signature(sig) => Check::fail(
            ID,
            format!("the signature is DER-encoded ASN.1 ({n} bytes), the openssl_sign mistake; JWS needs the 64-byte r || s form"),
            "convert the DER signature to raw r || s (each integer left-padded to 32 bytes), or use a JWT library with ES256 support (or `siwa secret`)",
        ),
        n => Check::fail(
            ID,
            format!("the signature is {n} bytes; an ES256 signature is 64 bytes (r || s)"),
            "sign with ES256 (P-256, SHA-256) using the .p8 key",
        ),
    }
}

/// `SEQUENCE { INTEGER r, INTEGER s }` with nothing after it.
fn der_signature(sig: &[u8]) -> bool {
    let Some((&0x30, rest)) = sig.split_first() else {
        return false;
    };
    let Some((&len, body)) = rest.split_first() else {
        return false;
    };
    if usize::from(len) != body.len() {
        return false;
    }
    let mut ints = 0;
    let mut body = body;
    while let [0x02, n, tail @ ..] = body {
        let n = usize::from(*n);
        if n == 0 || n > 33 || tail.len() < n {
            return false;
        }
        body = &tail[n..];
        ints += 1;
    }
    ints == 2 && body.is_empty()
}

/// `Some(rest)` when `sub` is `TEAMID.rest` with a Team ID shaped prefix.
fn team_prefixed(sub: &str) -> Option<&str> {
    let (prefix, rest) = sub.split_once('.')?;
    ten_char_problem(prefix).is_none().then_some(rest)
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
