//! Identifiers Apple hands out, parsed once so a value that exists is valid.
//!
//! A [`TeamId`] and a [`KeyId`] are ten characters of `A-Z0-9` (the Membership
//! page and the Keys page of the developer portal); a [`ClientId`] is the
//! Services ID (web) or the bundle ID (native apps).

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Why a string is not a valid identifier.
#[derive(Clone, Debug, Eq, Error, PartialEq)]
#[non_exhaustive]
pub enum IdError {
    /// A Team ID or Key ID that is not ten characters of `A-Z0-9`.
    #[error("{kind} {value:?} is not 10 characters of A-Z and 0-9 ({reason})")]
    BadShape {
        /// "Team ID" or "Key ID".
        kind: &'static str,
        /// The rejected value (identifiers are not secrets).
        value: String,
        /// What exactly is wrong with it.
        reason: String,
    },
    /// A client id that is empty, too long, or holds whitespace or control characters.
    #[error("client id {value:?} is invalid: {reason}")]
    BadClientId {
        /// The rejected value.
        value: String,
        /// What exactly is wrong with it.
        reason: &'static str,
    },
}

impl IdError {
    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::BadShape { kind: "Team ID", .. } => {
                "copy the Team ID from the Membership page of developer.apple.com: 10 characters, upper-case letters and digits"
            }
            Self::BadShape { .. } => {
                "use the Key ID shown on the Keys page (also in the file name AuthKey_<KEYID>.p8): 10 characters, upper-case letters and digits"
            }
            Self::BadClientId { .. } => {
                "use the Services ID (web) or the bundle ID (native app) exactly as registered, without the Team ID prefix"
            }
        }
    }
}

macro_rules! ten_char_id {
    ($name:ident, $kind:literal) => {
        #[doc = concat!("A ", $kind, ": ten characters of `A-Z0-9`.")]
        #[derive(Clone, Debug, Eq, Hash, PartialEq)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Parses a ", $kind, ".")]
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                match ten_char_problem(&value) {
                    None => Ok(Self(value)),
                    Some(reason) => Err(IdError::BadShape {
                        kind: $kind,
                        value,
                        reason,
                    }),
                }
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
    };
}

ten_char_id!(TeamId, "Team ID");
ten_char_id!(KeyId, "Key ID");

/// A client id: the Services ID (web flow) or an app's bundle ID (native flow).
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct ClientId(String);

impl ClientId {
    /// Parses a client id: non-empty, at most 255 bytes, no whitespace or control characters.
    pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        let reason = if value.is_empty() {
            Some("it is empty")
        } else if value.len() > MAX_CLIENT_ID_LEN {
            Some("it is longer than 255 bytes")
        } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Some("it contains whitespace or control characters")
        } else {
            None
        };
        match reason {
            None => Ok(Self(value)),
            Some(reason) => Err(IdError::BadClientId { value, reason }),
        }
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ClientId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::new(s)
    }
}

/// `None` when `value` is ten characters of `A-Z0-9`, else what is wrong.
pub(crate) fn ten_char_problem(value: &str) -> Option<String> {
    let len = value.chars().count();
    if len != 10 {
        return Some(format!("it has {len} characters"));
    }
    let bad: String = value
        .chars()
        .filter(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit()))
        .collect();
    if bad.is_empty() {
        None
    } else if value.chars().any(|c| c.is_ascii_lowercase())
        && bad.chars().all(|c| c.is_ascii_lowercase())
    {
        Some("it has lower-case letters; Apple's identifiers are upper-case".to_owned())
    } else {
        Some(format!("it contains {bad:?}"))
    }
}

const MAX_CLIENT_ID_LEN: usize = 255;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_character_ids_are_checked() {
        assert!(TeamId::new("DEF123GHIJ").is_ok());
        assert!(KeyId::new("ABC123DEFG").is_ok());
        let err = TeamId::new("DEF123GHI").unwrap_err();
        assert!(err.to_string().contains("9 characters"), "{err}");
        let err = KeyId::new("abc123defg").unwrap_err();
        assert!(err.to_string().contains("lower-case"), "{err}");
        assert!(TeamId::new("DEF123GHI-").is_err());
        assert!(TeamId::new("DEF123GHIÉ").is_err());
    }

    #[test]
    fn client_ids_are_checked() {
        assert!(ClientId::new("com.example.web").is_ok());
        assert!(ClientId::new("").is_err());
        assert!(ClientId::new("com.example web").is_err());
        assert!(ClientId::new("x".repeat(256)).is_err());
    }
}
