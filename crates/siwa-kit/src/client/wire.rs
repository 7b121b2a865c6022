//! Requests and responses as plain data: building a form POST, reading
//! Apple's success and error answers. No I/O here.

use http::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use serde_json::{Map, Value};

use crate::client::authorize::shorten;
use crate::client::error::{AppleErrorCode, ClientError, ConfigError, Operation};
use crate::client::tokens::{AccessToken, IdToken, RefreshToken, TokenResponse};

/// The content type of Apple's token and revoke requests.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// The header in which the emulator says why it refused a request.
pub const EMULATOR_REASON_HEADER: &str = "x-emulator-reason";

/// A `POST` of `fields` as `application/x-www-form-urlencoded` to `uri`.
pub fn form_post(
    uri: &http::Uri,
    fields: &[(&str, &str)],
) -> Result<http::Request<Vec<u8>>, ClientError> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    http::Request::post(uri.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static(FORM_CONTENT_TYPE))
        .header(ACCEPT, HeaderValue::from_static("application/json"))
        .body(body.into_bytes())
        .map_err(|e| {
            ClientError::Config(ConfigError::Request {
                reason: e.to_string(),
            })
        })
}

/// Reads the token endpoint's answer: Apple's `TokenResponse` on a 2xx,
/// else Apple's error or [`ClientError::Unexpected`].
pub fn parse_token_response(
    operation: Operation,
    response: &http::Response<Vec<u8>>,
) -> Result<TokenResponse, ClientError> {
    if !response.status().is_success() {
        return Err(error_response(operation, response));
    }
    let unexpected = |what: String| ClientError::Unexpected {
        operation,
        status: response.status().as_u16(),
        excerpt: what,
    };
    let value: Value = serde_json::from_slice(response.body())
        .map_err(|_| unexpected(format!("not JSON: {}", excerpt(response.body()))))?;
    let Value::Object(mut object) = value else {
        return Err(unexpected(format!(
            "not a JSON object but {}",
            kind(&value)
        )));
    };
    let access_token = required_string(&mut object, "access_token").map_err(&unexpected)?;
    let token_type = required_string(&mut object, "token_type").map_err(&unexpected)?;
    let expires_in = match object.get("expires_in") {
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| unexpected("`expires_in` is not a whole number of seconds".into()))?,
        Some(other) => {
            return Err(unexpected(format!(
                "`expires_in` is {}, not a number",
                kind(other)
            )))
        }
        None => return Err(unexpected("`expires_in` is missing".into())),
    };
    let refresh_token = match object.remove("refresh_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(token)) => Some(RefreshToken::new(token)),
        Some(other) => {
            return Err(unexpected(format!(
                "`refresh_token` is {}, not a string",
                kind(&other)
            )))
        }
    };
    let id_token = required_string(&mut object, "id_token").map_err(&unexpected)?;
    Ok(TokenResponse {
        access_token: AccessToken::new(access_token),
        token_type: shorten(&token_type, 40),
        expires_in,
        refresh_token,
        id_token: IdToken::new(id_token),
    })
}

/// Reads the revoke endpoint's answer: a 2xx (Apple: 200, empty body) is
/// success, also for a token that was already invalid.
pub fn parse_revoke_response(response: &http::Response<Vec<u8>>) -> Result<(), ClientError> {
    if response.status().is_success() {
        Ok(())
    } else {
        Err(error_response(Operation::Revoke, response))
    }
}

/// A 4xx with `{"error":"<code>"}` is Apple's error; anything else is unexpected.
pub(crate) fn error_response(
    operation: Operation,
    response: &http::Response<Vec<u8>>,
) -> ClientError {
    let status = response.status();
    let apple = status
        .is_client_error()
        .then(|| serde_json::from_slice::<Value>(response.body()).ok())
        .flatten();
    if let Some(Value::Object(object)) = apple {
        if let Some(Value::String(code)) = object.get("error") {
            let description = match object.get("error_description") {
                Some(Value::String(text)) if !text.is_empty() => Some(clean(text)),
                _ => None,
            };
            let reason = response
                .headers()
                .get(EMULATOR_REASON_HEADER)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(clean);
            let code = match AppleErrorCode::parse(code) {
                AppleErrorCode::Other(other) => AppleErrorCode::Other(shorten(&mask(&other), 64)),
                known => known,
            };
            return ClientError::Apple {
                operation,
                status: status.as_u16(),
                code,
                description,
                reason,
            };
        }
    }
    ClientError::Unexpected {
        operation,
        status: status.as_u16(),
        excerpt: excerpt(response.body()),
    }
}

pub(crate) fn required_string(
    object: &mut Map<String, Value>,
    name: &str,
) -> Result<String, String> {
    match object.remove(name) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text),
        Some(Value::String(_)) => Err(format!("`{name}` is empty")),
        Some(other) => Err(format!("`{name}` is {}, not a string", kind(&other))),
        None => Err(format!("`{name}` is missing")),
    }
}

pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A short, secret-free description of a body: for JSON its shape (member
/// names, never values), for other text its start with token-like words masked.
pub(crate) fn excerpt(body: &[u8]) -> String {
    if body.iter().all(u8::is_ascii_whitespace) {
        return "an empty body".into();
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => {
            let mut names: Vec<String> = object
                .keys()
                .take(8)
                .map(|k| shorten(&mask(k), 32))
                .collect();
            if object.len() > names.len() {
                names.push("…".into());
            }
            format!("a JSON object with members [{}]", names.join(", "))
        }
        Ok(other) => format!("JSON {}", kind(&other)),
        Err(_) => {
            let text = String::from_utf8_lossy(&body[..body.len().min(EXCERPT_SCAN)]);
            format!("body starting {:?}", clean(&text))
        }
    }
}

/// Collapsed whitespace, no control characters, token-like words masked, shortened.
fn clean(text: &str) -> String {
    let flat: String = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    shorten(&mask(&flat), EXCERPT_LEN)
}

/// Replaces each word that looks like a token or key with `[…]`: a run of
/// 20 or more token characters holding a digit, or any run of 40 or more.
/// Words such as `invalid_client` or `Unauthorized` survive.
pub(crate) fn mask(text: &str) -> String {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let len = word.chars().count();
        if len >= 40 || (len >= 20 && word.chars().any(|c| c.is_ascii_digit())) {
            out.push_str("[…]");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if is_token_char(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

const EXCERPT_LEN: usize = 160;
const EXCERPT_SCAN: usize = 4096;
