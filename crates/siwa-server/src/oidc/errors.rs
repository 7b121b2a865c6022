//! OAuth 2.0 errors as each endpoint answers them: the token and revocation
//! endpoints' JSON (RFC 6749 §5.2), the authorization endpoint's redirect
//! (§4.1.2.1, with RFC 9207's `iss`), the userinfo endpoint's
//! `WWW-Authenticate` (RFC 6750 §3). Descriptions are fixed phrases; the
//! detail goes to the log under the request id.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use url::Url;
use utoipa::ToSchema;

use crate::request_id;
use crate::store::StoreError;

/// An error code of OAuth 2.0 and OpenID Connect.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Code {
    InvalidRequest,
    AccessDenied,
    UnsupportedResponseType,
    InvalidScope,
    ServerError,
    TemporarilyUnavailable,
    LoginRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    InvalidClient,
    InvalidGrant,
    UnsupportedGrantType,
}

impl Code {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnsupportedGrantType => "unsupported_grant_type",
        }
    }
}

/// An error with its fixed description.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OAuthError {
    pub(crate) code: Code,
    pub(crate) description: &'static str,
    /// The client authenticated with HTTP Basic (a 401 then names the scheme).
    basic: bool,
}

impl OAuthError {
    pub(crate) fn new(code: Code, description: &'static str) -> Self {
        Self {
            code,
            description,
            basic: false,
        }
    }

    /// `invalid_client`, answered with the `Basic` challenge when the client used it.
    pub(crate) fn invalid_client(description: &'static str, basic: bool) -> Self {
        Self {
            basic,
            ..Self::new(Code::InvalidClient, description)
        }
    }

    /// The error of a store failure: an outage is temporary, anything else ours.
    pub(crate) fn store(e: &StoreError) -> Self {
        match e.outage() {
            Some(_) => Self::new(
                Code::TemporarilyUnavailable,
                "the service is unavailable for a moment; retry shortly",
            ),
            None => {
                tracing::error!(cause = %e, "provider store call failed");
                Self::new(
                    Code::ServerError,
                    "something went wrong on our side; try again",
                )
            }
        }
    }

    /// The authorization response carrying this error, to the client's
    /// (already validated) redirect URI.
    pub(crate) fn redirect(
        self,
        redirect_uri: &str,
        state: Option<&str>,
        issuer: &str,
    ) -> Response {
        tracing::info!(error = self.code.as_str(), "authorization request refused");
        let mut pairs = vec![
            ("error", self.code.as_str()),
            ("error_description", self.description),
        ];
        if let Some(state) = state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", issuer));
        redirect_with(redirect_uri, &pairs)
    }
}

/// The body of the token and revocation endpoints' errors (RFC 6749 §5.2;
/// the OpenAPI document's `OAuthError`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OAuthError)]
pub(crate) struct OAuthErrorBody {
    /// RFC 6749's code: `invalid_request`, `invalid_client`, `invalid_grant`,
    /// `unsupported_grant_type`, `invalid_scope`, `server_error`, `temporarily_unavailable`, ...
    #[schema(example = "invalid_grant")]
    error: &'static str,
    /// A fixed phrase for the client's developer; the detail is logged under the request id.
    error_description: &'static str,
    /// The id of this request (also in `X-Request-Id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

/// The JSON answer of the token and revocation endpoints.
impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = match self.code {
            Code::InvalidClient => StatusCode::UNAUTHORIZED,
            Code::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            Code::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = OAuthErrorBody {
            error: self.code.as_str(),
            error_description: self.description,
            request_id: request_id::current(),
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if status == StatusCode::UNAUTHORIZED {
            let challenge = if self.basic {
                "Basic realm=\"siwa\", charset=\"UTF-8\""
            } else {
                "Bearer"
            };
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// `303 See Other` to `uri` with `pairs` added to its query (the client's
/// own query parameters kept, RFC 6749 §3.1.2).
pub(crate) fn redirect_with(uri: &str, pairs: &[(&str, &str)]) -> Response {
    let Ok(mut url) = Url::parse(uri) else {
        // Registered URIs were parsed at start; this cannot happen.
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    url.query_pairs_mut().extend_pairs(pairs);
    let location = url.to_string();
    match HeaderValue::from_str(&location) {
        Ok(value) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, value),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
