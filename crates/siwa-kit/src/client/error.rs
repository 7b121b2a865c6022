//! What can go wrong talking to Apple: Apple's own error codes, answers that
//! are not Apple's, no answer at all, and bad settings. Each error has a hint
//! a person can act on, and none carries a token or a secret.

use std::fmt;

use thiserror::Error;

use crate::http::HttpError;
use crate::secret::SecretError;

/// Which call to Apple failed.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Operation {
    /// `grant_type=authorization_code` at the token endpoint.
    ExchangeCode,
    /// `grant_type=refresh_token` at the token endpoint.
    Refresh,
    /// The revoke endpoint.
    Revoke,
    /// `grant_type=client_credentials` (team transfer's access token).
    MigrationToken,
    /// `/auth/usermigrationinfo` (team transfer).
    MigrationInfo,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ExchangeCode => "code exchange",
            Self::Refresh => "token refresh",
            Self::Revoke => "token revocation",
            Self::MigrationToken => "team transfer access token request",
            Self::MigrationInfo => "user migration info request",
        })
    }
}

/// The `error` member of Apple's `400 {"error":"..."}` answer.
///
/// Source: Apple's ErrorResponse documentation; TN3107 for the authorize step.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum AppleErrorCode {
    /// `invalid_client`: the client_secret or client_id was not accepted.
    InvalidClient,
    /// `invalid_grant`: the code or refresh token is invalid, expired, used or
    /// revoked, or `redirect_uri` / `client_id` differ from the authorization's.
    InvalidGrant,
    /// `invalid_request`: a parameter is missing, repeated or malformed.
    InvalidRequest,
    /// `invalid_scope`: the scope is not valid.
    InvalidScope,
    /// A code this crate does not know (kept, shortened if long).
    Other(String),
    /// `unauthorized_client`: the client may not use this grant.
    UnauthorizedClient,
    /// `unsupported_grant_type`: the grant type is not supported.
    UnsupportedGrantType,
}

impl AppleErrorCode {
    /// Reads Apple's code; an unknown one becomes [`Self::Other`].
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "invalid_request" => Self::InvalidRequest,
            "invalid_scope" => Self::InvalidScope,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The code as Apple spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidScope => "invalid_scope",
            Self::Other(code) => code,
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
        }
    }

    /// What a person can do about it, whatever the call.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::InvalidClient => INVALID_CLIENT_HINT,
            Self::InvalidGrant => {
                "the code or refresh token is not (or no longer) valid for this client: a code works once and for 5 minutes, with the same redirect_uri and client_id as its authorization; a refresh token ends when it is revoked"
            }
            Self::InvalidRequest => {
                "a field is missing, empty or repeated: send client_id, client_secret, the code or token once each, and redirect_uri exactly when the authorization request had one"
            }
            Self::InvalidScope => {
                "only `name` and `email` are scopes of Sign in with Apple; the token endpoint takes a scope only for team transfer (user.migration)"
            }
            Self::Other(_) => {
                "Apple answered with an error code siwa does not know; see Apple's TN3107 (resolving Sign in with Apple response errors)"
            }
            Self::UnauthorizedClient => {
                "this client_id may not use this grant: check that Sign in with Apple is enabled for the Services ID or App ID, and that it is grouped with the primary App ID"
            }
            Self::UnsupportedGrantType => {
                "Apple takes grant_type authorization_code or refresh_token here; check the endpoint family (--api / Api) and the base URL"
            }
        }
    }
}

impl fmt::Display for AppleErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a call to Apple's token or revoke endpoint did not succeed.
///
/// No variant holds a token, a code or the client_secret; excerpts of
/// unexpected answers have token-like text masked.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Apple answered with one of its error codes.
    #[error("Apple refused the {operation}: {code} (HTTP {status}){}", reason_suffix(.reason.as_deref()))]
    Apple {
        /// Which call.
        operation: Operation,
        /// The HTTP status (Apple uses 400).
        status: u16,
        /// Apple's `error`.
        code: AppleErrorCode,
        /// Apple's `error_description`, if it sent one (rarely), shortened.
        description: Option<String>,
        /// The emulator's `X-Emulator-Reason` header, if any: why it refused.
        reason: Option<String>,
    },
    /// No response at all: connection, TLS, timeout, or a body over the cap.
    #[error("the {operation} request got no answer")]
    Http {
        /// Which call.
        operation: Operation,
        /// What went wrong.
        #[source]
        source: HttpError,
    },
    /// The settings or inputs cannot make a request.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The client_secret could not be signed.
    #[error("cannot sign the client_secret")]
    Secret(#[source] SecretError),
    /// An answer that is neither Apple's success nor Apple's error.
    #[error("unexpected answer to the {operation}: HTTP {status}, {excerpt}")]
    Unexpected {
        /// Which call.
        operation: Operation,
        /// The HTTP status.
        status: u16,
        /// What was wrong with it, or a short excerpt with token-like text masked.
        excerpt: String,
    },
}

impl ClientError {
    /// Apple's error code, when Apple answered with one.
    pub fn apple_code(&self) -> Option<&AppleErrorCode> {
        match self {
            Self::Apple { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status of the answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Apple { status, .. } | Self::Unexpected { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Apple {
                operation, code, ..
            } => match (code, operation) {
                (AppleErrorCode::InvalidGrant, Operation::ExchangeCode) => {
                    "the usual causes: the code was already used, it is older than 5 minutes, redirect_uri differs from the authorization request's (or was sent when it had none), or client_id differs from the one that got the code (a native app's code needs its bundle ID as client_id)"
                }
                (AppleErrorCode::InvalidGrant, Operation::Refresh) => {
                    "the refresh token was revoked (the user stopped using Sign in with Apple with this app, or it was revoked) or was issued to another client_id: sign the user in again"
                }
                (AppleErrorCode::InvalidGrant, Operation::MigrationInfo) => {
                    "the sub is not a user of this team who authorized the app, or the transfer_sub is unknown, was made for another receiving team, or its 60-day window after the transfer has passed"
                }
                (AppleErrorCode::InvalidClient, Operation::MigrationToken | Operation::MigrationInfo) => {
                    "the client secret is not the team's that owns the app now: before the transfer sign with the sending team's key, after it with the receiving team's; the access token must be that team's too"
                }
                (AppleErrorCode::InvalidRequest, Operation::MigrationInfo) => {
                    "send sub and target (the receiving team, not your own) before the transfer, or transfer_sub after it, with the user.migration access token as Bearer"
                }
                (AppleErrorCode::InvalidGrant, _) => {
                    "the token is not one Apple issued to this client_id"
                }
                (code, _) => code.hint(),
            },
            Self::Http { source, .. } => source.hint(),
            Self::Config(e) => e.hint(),
            Self::Secret(e) => e.hint(),
            Self::Unexpected { status, .. } if *status >= 500 => {
                "the server is failing: retry later; if it persists, check the base URL"
            }
            Self::Unexpected { .. } => {
                "check the base URL (--apple-url): it should be https://appleid.apple.com or the emulator's URL, with no path; a proxy or captive portal may be answering instead"
            }
        }
    }
}

fn reason_suffix(reason: Option<&str>) -> String {
    reason.map(|r| format!(": {r}")).unwrap_or_default()
}

/// Settings or inputs that cannot make a valid request.
#[derive(Clone, Debug, Eq, Error, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A base URL that is not `http(s)://host[:port][/path]`.
    #[error("base URL {value:?} is not usable: {reason}")]
    BaseUrl {
        /// The URL (with any user:password part removed).
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A request that could not be put together.
    #[error("cannot build the request: {reason}")]
    Request {
        /// What went wrong.
        reason: String,
    },
    /// A redirect URI that is not an absolute `http(s)` URL.
    #[error("redirect URI {value:?} is not usable: {reason}")]
    RedirectUri {
        /// The URI.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A response mode Apple would refuse with this request.
    #[error("response_mode {mode} cannot be used {reason}")]
    ResponseMode {
        /// The mode asked for.
        mode: &'static str,
        /// With what.
        reason: &'static str,
    },
    /// A renewing secret cache signs for another client id than the client's.
    #[error("the client_secret is for {secret_client_id}, but the requests are for client_id {client_id}")]
    SecretClientMismatch {
        /// The client's id.
        client_id: String,
        /// The `sub` the cache signs.
        secret_client_id: String,
    },
    /// A value that is not one of the names this setting takes.
    #[error("{setting} {value:?} is not one of: {expected}")]
    UnknownValue {
        /// Which setting.
        setting: &'static str,
        /// What was given (shortened).
        value: String,
        /// The names it takes.
        expected: &'static str,
    },
}

impl ConfigError {
    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::BaseUrl { .. } => {
                "give the scheme and host only, e.g. https://appleid.apple.com or http://127.0.0.1:PORT for the emulator"
            }
            Self::Request { .. } => "check the client id and base URL for unusual characters",
            Self::RedirectUri { .. } => {
                "use the redirect URL registered for the Services ID, exactly, e.g. https://example.com/auth/apple/callback"
            }
            Self::ResponseMode { .. } => {
                "Apple requires response_mode=form_post when a scope (name, email) is asked for, and fragment or form_post when id_token is in response_type; leave the mode unset to get the right one"
            }
            Self::SecretClientMismatch { .. } => {
                "Apple requires the client_secret's sub to equal client_id: make the secret for this client id (a native app's bundle ID needs its own secret)"
            }
            Self::UnknownValue { .. } => "use one of the names listed",
        }
    }
}

const INVALID_CLIENT_HINT: &str = "Apple did not accept the client_secret or client_id: run `siwa doctor` on the secret (add --probe to ask Apple again); its sub must be this client_id, and a native app's code is exchanged with the app's bundle ID and a secret made for it";
