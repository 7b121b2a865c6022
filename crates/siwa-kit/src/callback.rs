//! Apple's answer to an authorization, as it reaches the redirect URI: the
//! `form_post` body (`application/x-www-form-urlencoded`), or the query or
//! fragment of the other response modes, which carry the same fields.
//!
//! Fields: `code`, `id_token` (with `response_type=code id_token`), `state`,
//! `user` (a JSON *string* `{"name":{"firstName","lastName"},"email"}`, sent
//! only on the user's first authorization of the app: store it before
//! anything that can fail), or `error` (such as `user_cancelled_authorize`)
//! with `state`.
//!
//! ```
//! use siwa_kit::callback::Callback;
//! let body = b"state=s1&code=c0ffee.0.abcd.x&user=%7B%22name%22%3A%7B%22firstName%22%3A%22Alice%22%7D%7D";
//! let Callback::Authorized(auth) = Callback::parse(body)? else { unreachable!() };
//! assert_eq!(auth.user.and_then(|u| u.first_name).as_deref(), Some("Alice"));
//! # Ok::<(), siwa_kit::callback::CallbackError>(())
//! ```

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use thiserror::Error;

use crate::client::{AuthorizationCode, IdToken, State};

/// The largest body [`Callback::parse`] reads: 64 KiB.
pub const MAX_CALLBACK_LEN: usize = 64 * 1024;

/// What the callback says.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Callback {
    /// The user signed in: a code to exchange.
    Authorized(Authorization),
    /// No sign-in: the user cancelled, or Apple refused the request.
    Denied(Denial),
}

impl Callback {
    /// Parses a form body (or a query string), refusing more than
    /// [`MAX_CALLBACK_LEN`] bytes and any field given twice. Unknown fields
    /// are ignored; an empty field counts as absent.
    pub fn parse(body: &[u8]) -> Result<Self, CallbackError> {
        if body.len() > MAX_CALLBACK_LEN {
            return Err(CallbackError::TooLarge {
                len: body.len(),
                limit: MAX_CALLBACK_LEN,
            });
        }
        let mut fields = Fields::default();
        for (name, value) in form_urlencoded::parse(body) {
            let slot = match name.as_ref() {
                "code" => &mut fields.code,
                "id_token" => &mut fields.id_token,
                "state" => &mut fields.state,
                "user" => &mut fields.user,
                "error" => &mut fields.error,
                _ => continue,
            };
            if slot.is_some() {
                return Err(CallbackError::Duplicate {
                    field: field_name(&name),
                });
            }
            *slot = Some(value.into_owned());
        }
        let present = |v: Option<String>| v.filter(|v| !v.is_empty());
        let state = present(fields.state).map(State::new);
        let code = present(fields.code);
        match present(fields.error) {
            Some(_) if code.is_some() => Err(CallbackError::Ambiguous),
            Some(error) => Ok(Self::Denied(Denial {
                error: AuthorizeError::parse(&error),
                state,
            })),
            None => {
                let code = code.ok_or(CallbackError::MissingCode)?;
                let user = present(fields.user)
                    .map(|json| User::from_json(&json))
                    .transpose()?;
                Ok(Self::Authorized(Authorization {
                    code: AuthorizationCode::new(code),
                    id_token: present(fields.id_token).map(IdToken::new),
                    state,
                    user,
                }))
            }
        }
    }

    /// The `state` echoed by Apple, whichever the outcome.
    pub fn state(&self) -> Option<&State> {
        match self {
            Self::Authorized(auth) => auth.state.as_ref(),
            Self::Denied(denial) => denial.state.as_ref(),
        }
    }
}

/// A successful authorization. `Debug` redacts the secrets and the user's data.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Authorization {
    /// The code: exchange it within five minutes, once.
    pub code: AuthorizationCode,
    /// The identity token, with `response_type=code id_token`; verify it.
    pub id_token: Option<IdToken>,
    /// The state of the authorization request.
    pub state: Option<State>,
    /// The user's name and email, on the first authorization only.
    pub user: Option<User>,
}

/// An authorization that did not happen.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Denial {
    /// Why.
    pub error: AuthorizeError,
    /// The state of the authorization request.
    pub state: Option<State>,
}

/// The `error` of a callback.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum AuthorizeError {
    /// A code this crate does not know (shortened), e.g. `invalid_request`.
    Other(String),
    /// `user_cancelled_authorize`: the user closed or cancelled the sheet.
    UserCancelledAuthorize,
}

impl AuthorizeError {
    /// Reads the `error` field.
    pub fn parse(code: &str) -> Self {
        match code {
            "user_cancelled_authorize" => Self::UserCancelledAuthorize,
            other => Self::Other(other.chars().take(64).collect()),
        }
    }

    /// The code as sent.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Other(code) => code,
            Self::UserCancelledAuthorize => "user_cancelled_authorize",
        }
    }

    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Other(_) => {
                "Apple refused the authorization request: check client_id, redirect_uri (registered, exact), response_type, and response_mode=form_post with a scope (TN3107)"
            }
            Self::UserCancelledAuthorize => "the user cancelled: offer to sign in again",
        }
    }
}

impl fmt::Display for AuthorizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `user` of a first authorization. Every part is optional: the user may
/// share no name, and the email only comes with the `email` scope.
///
/// `Debug` shows which parts are present, not their values.
#[derive(Clone, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct User {
    /// `name.firstName`.
    pub first_name: Option<String>,
    /// `name.lastName`.
    pub last_name: Option<String>,
    /// `email`: a real address or a private relay one.
    pub email: Option<String>,
}

impl User {
    /// Reads Apple's `user` JSON, `{"name":{"firstName","lastName"},"email"}`
    /// (as the callback sends it, and as a native app receives it). Unknown
    /// members are ignored; `null` and empty strings count as absent.
    pub fn from_json(json: &str) -> Result<Self, CallbackError> {
        if json.len() > MAX_CALLBACK_LEN {
            return Err(CallbackError::TooLarge {
                len: json.len(),
                limit: MAX_CALLBACK_LEN,
            });
        }
        let wire: Object<WireUser> = serde_json::from_str(json).map_err(|e| CallbackError::User {
            // The message of a data error can quote the user's data; keep only where.
            reason: match e.classify() {
                serde_json::error::Category::Data => format!(
                    "it is not shaped as {{\"name\":{{\"firstName\",\"lastName\"}},\"email\"}} (line {}, column {})",
                    e.line(),
                    e.column()
                ),
                _ => format!("it is not JSON (line {}, column {})", e.line(), e.column()),
            },
        })?;
        let keep = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
        let Object(wire) = wire;
        let name = wire.name.map(|Object(name)| name).unwrap_or_default();
        Ok(Self {
            first_name: keep(name.first_name),
            last_name: keep(name.last_name),
            email: keep(wire.email),
        })
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |v: &Option<String>| {
            if v.is_some() {
                "Some([redacted])"
            } else {
                "None"
            }
        };
        f.debug_struct("User")
            .field("first_name", &format_args!("{}", shown(&self.first_name)))
            .field("last_name", &format_args!("{}", shown(&self.last_name)))
            .field("email", &format_args!("{}", shown(&self.email)))
            .finish()
    }
}

/// Why a callback could not be read.
#[derive(Clone, Debug, Eq, Error, PartialEq)]
#[non_exhaustive]
pub enum CallbackError {
    /// Both `code` and `error`.
    #[error("the callback carries both a code and an error")]
    Ambiguous,
    /// A field given twice.
    #[error("the callback has the field `{field}` more than once")]
    Duplicate {
        /// Which field.
        field: &'static str,
    },
    /// Neither `code` nor `error`.
    #[error("the callback has no code and no error")]
    MissingCode,
    /// Larger than any callback of Apple's.
    #[error("the callback is {len} bytes, over the limit of {limit}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A `user` field that is not Apple's JSON.
    #[error("the callback's `user` field is unreadable: {reason}")]
    User {
        /// What is wrong (never its content).
        reason: String,
    },
}

impl CallbackError {
    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Ambiguous | Self::Duplicate { .. } | Self::MissingCode | Self::TooLarge { .. } => {
                "this is not Apple's callback: answer with an error page, and check that the route receives Apple's form_post unchanged"
            }
            Self::User { .. } => {
                "Apple sends `user` as a JSON string {\"name\":{\"firstName\",\"lastName\"},\"email\"}; check that nothing re-encodes the form on its way"
            }
        }
    }
}

#[derive(Default)]
struct Fields {
    code: Option<String>,
    id_token: Option<String>,
    state: Option<String>,
    user: Option<String>,
    error: Option<String>,
}

fn field_name(name: &str) -> &'static str {
    match name {
        "code" => "code",
        "id_token" => "id_token",
        "state" => "state",
        "user" => "user",
        _ => "error",
    }
}

/// A struct read from a JSON object only. serde's derive also reads a struct
/// from an array of its fields in order (`[["Alice"]]` as a user named
/// Alice); Apple's `user` is objects all the way down, so anything else is
/// refused as not shaped like it.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(Object)
    }
}

#[derive(Deserialize)]
struct WireUser {
    #[serde(default)]
    name: Option<Object<WireName>>,
    #[serde(default)]
    email: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireName {
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
}

#[cfg(test)]
mod tests;
