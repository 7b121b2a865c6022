//! The service's secrets, held the one way siwa holds a secret string
//! ([`siwa_kit::secret_string!`]): `Debug` prints `Name([redacted])`, no
//! `Display`, no `PartialEq` (compare hashes in constant time), the text
//! zeroized on drop, and read only through a `secret()` that says what not
//! to do with it.

use serde::{Deserialize, Deserializer};

siwa_kit::secret_string!(
    /// A bearer access token the service signed (RFC 9068): for its own
    /// API, or for a relying party of the OpenID Provider.
    AccessToken,
    "A bearer credential: hand it only to its holder, never log it."
);

siwa_kit::secret_string!(
    /// An opaque refresh token the service issued (only its SHA-256 is stored).
    RefreshToken,
    "A long-lived credential: hand it only to its holder, never log it."
);

siwa_kit::secret_string!(
    /// The web session cookie's value (a JWT of its own `typ`).
    WebSessionToken,
    "The browser's session: set it only as the HttpOnly cookie, never log it."
);

siwa_kit::secret_string!(
    /// A secret setting as written: a key (a path, or its PEM text), the
    /// encryption key's base64, a relying party's client secret.
    SecretSetting,
    "Configuration secret: parse it once at start, never log or echo it."
);

impl<'de> Deserialize<'de> for RefreshToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

impl<'de> Deserialize<'de> for SecretSetting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

impl From<String> for SecretSetting {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for SecretSetting {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_settings_deserialize() {
        let setting: SecretSetting =
            serde_json::from_str("\"-----BEGIN PRIVATE KEY-----\"").unwrap();
        assert_eq!(setting.secret(), "-----BEGIN PRIVATE KEY-----");
        assert_eq!(format!("{setting:?}"), "SecretSetting([redacted])");
        let token: RefreshToken = serde_json::from_str("\"rt_abc\"").unwrap();
        assert_eq!(format!("{token:?}"), "RefreshToken([redacted])");
        assert_eq!(
            format!("{:?}", AccessToken::new("eyJ")),
            "AccessToken([redacted])"
        );
    }
}
