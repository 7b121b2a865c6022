//! `[[webhook]]`: where account events go (see `crate::webhooks`), each
//! endpoint with its signing secret and the event types it takes.

use std::fmt;

use aws_lc_rs::hmac;
use base64::Engine;
use serde::Deserialize;

use super::urls::check_web_url;
use super::{ConfigError, SecretSetting};
use crate::store::EventType;

/// The shortest signing secret accepted, in bytes (the Standard Webhooks
/// specification asks for 24 to 64; 16 is the floor of any HMAC key worth it).
const MIN_SECRET_BYTES: usize = 16;

/// `[[webhook]]` as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    /// Where events are POSTed (https, or http on loopback).
    pub url: Option<String>,
    /// The signing secret: `whsec_<base64>` (those bytes), or any text of 16 bytes or more.
    pub secret: Option<SecretSetting>,
    /// The event types it takes (absent: all).
    pub events: Option<Vec<String>>,
}

/// An endpoint, parsed.
#[derive(Clone)]
pub struct WebhookEndpoint {
    /// Where events are POSTed; also its name in the delivery log.
    pub url: String,
    /// The HMAC-SHA256 key of its signatures.
    pub key: hmac::Key,
    /// The event types it takes.
    pub events: Vec<EventType>,
}

impl WebhookEndpoint {
    /// Whether it takes events of this type.
    pub fn takes(&self, kind: &str) -> bool {
        self.events.iter().any(|t| t.as_str() == kind)
    }

    /// Parses `[[webhook]]` number `index` (from 0).
    pub(crate) fn parse(raw: RawWebhook, index: usize) -> Result<Self, ConfigError> {
        let key = |name: &str| format!("webhook[{index}].{name}");
        let url = raw
            .url
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| ConfigError::new(key("url"), "missing: where to POST the events"))?;
        check_web_url(&key("url"), &url)?;
        let secret = raw.secret.ok_or_else(|| {
            ConfigError::new(
                key("secret"),
                "missing: the signing secret shared with the receiver (e.g. `whsec_` and the base64 of 32 random bytes: `openssl rand -base64 32`)",
            )
        })?;
        let bytes =
            secret_bytes(secret.secret()).map_err(|p| ConfigError::new(key("secret"), p))?;
        let events =
            match raw.events {
                None => EventType::ALL.to_vec(),
                Some(names) if names.is_empty() => return Err(ConfigError::new(
                    key("events"),
                    "empty: list the event types to send, or leave `events` out for all of them",
                )),
                Some(names) => names
                    .iter()
                    .map(|name| name.parse::<EventType>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|p| ConfigError::new(key("events"), p))?,
            };
        Ok(Self {
            url,
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
            events,
        })
    }
}

impl fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("url", &self.url)
            .field("key", &"[redacted]")
            .field("events", &self.events)
            .finish()
    }
}

/// The key bytes of a secret as written: `whsec_<base64>` is that base64's
/// bytes (the Standard Webhooks form); any other text is its own bytes.
fn secret_bytes(secret: &str) -> Result<Vec<u8>, String> {
    let bytes = match secret.strip_prefix("whsec_") {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| "`whsec_` is followed by something that is not base64".to_owned())?,
        None => secret.as_bytes().to_vec(),
    };
    if bytes.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "too short: {} bytes; use at least {MIN_SECRET_BYTES} (e.g. `whsec_` and the base64 of 32 random bytes: `openssl rand -base64 32`)",
            bytes.len()
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(url: &str, secret: &str, events: Option<&[&str]>) -> RawWebhook {
        RawWebhook {
            url: Some(url.into()),
            secret: Some(secret.into()),
            events: events.map(|e| e.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    #[test]
    fn whsec_secrets_are_their_base64_bytes_and_others_their_text() {
        assert_eq!(
            secret_bytes("whsec_AAECAwQFBgcICQoLDA0ODw==").unwrap(),
            (0u8..16).collect::<Vec<_>>()
        );
        assert_eq!(
            secret_bytes("a-long-enough-secret").unwrap(),
            b"a-long-enough-secret"
        );
        assert!(secret_bytes("whsec_!!").unwrap_err().contains("not base64"));
        assert!(secret_bytes("short").unwrap_err().contains("too short"));
    }

    #[test]
    fn endpoints_check_their_url_secret_and_events() {
        let all = WebhookEndpoint::parse(
            raw("https://app.example/hooks", "0123456789abcdef", None),
            0,
        )
        .unwrap();
        assert!(all.takes("user.deleted") && all.takes("session.revoked"));
        assert!(!format!("{all:?}").contains("0123456789abcdef"));
        let some = WebhookEndpoint::parse(
            raw(
                "http://127.0.0.1:9/h",
                "0123456789abcdef",
                Some(&["user.deleted"]),
            ),
            0,
        )
        .unwrap();
        assert!(some.takes("user.deleted") && !some.takes("user.created"));
        let error =
            WebhookEndpoint::parse(raw("http://app.example/h", "0123456789abcdef", None), 1)
                .unwrap_err();
        assert_eq!(error.setting, "webhook[1].url");
        let error = WebhookEndpoint::parse(
            raw(
                "https://app.example/h",
                "0123456789abcdef",
                Some(&["user.renamed"]),
            ),
            0,
        )
        .unwrap_err();
        assert!(error.problem.contains("user.created"), "{}", error.problem);
        let error = WebhookEndpoint::parse(
            raw("https://app.example/h", "0123456789abcdef", Some(&[])),
            0,
        )
        .unwrap_err();
        assert_eq!(error.setting, "webhook[0].events");
    }
}
