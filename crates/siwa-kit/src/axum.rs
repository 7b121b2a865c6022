//! An axum extractor of verified identity tokens (feature `axum`).
//!
//! [`AppleIdentity`] reads `Authorization: Bearer <identity token>`, verifies
//! it with the shared [`Verifier`] in the router's state, and hands the
//! handler the [`Claims`]. Otherwise the request is answered, before the
//! handler runs, with:
//! - `401` and `WWW-Authenticate: Bearer realm="siwa"` when there is no
//!   bearer token (RFC 6750 §3.1: no error code);
//! - `401` and `WWW-Authenticate: Bearer realm="siwa", error="invalid_token",
//!   error_description="..."` when the token is rejected (the description is
//!   a fixed phrase per reason, never the token's values);
//! - `503` with `Retry-After` when Apple's keys cannot be fetched: the
//!   client's token is not at fault.
//!
//! The nonce is not checked ([`crate::id_token::NoncePolicy::Unchecked`]):
//! a bearer token is presented again and again, long after its sign-in. To
//! start a session, verify once with a nonce policy instead.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{routing::get, Router};
//! use siwa_kit::axum::AppleIdentity;
//! use siwa_kit::{ids::ClientId, jwks::KeyCache, Verifier};
//!
//! async fn me(AppleIdentity(claims): AppleIdentity) -> String {
//!     format!("you are {}", claims.sub())
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let keys = Arc::new(KeyCache::from_json(br#"{"keys":[]}"#)?);
//! // In a service: KeyCache::apple(Arc::new(siwa_kit::http::ReqwestClient::new()?))
//! let verifier = Arc::new(Verifier::new(keys, [ClientId::new("com.example.ios")?]));
//! let app: Router = Router::new().route("/me", get(me)).with_state(verifier);
//! # let _ = app;
//! # Ok(()) }
//! ```
//!
//! With a larger state, implement `FromRef<YourState> for Arc<Verifier>`.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::id_token::{Verifier, VerifyError};
use crate::jwks::KeyLookupError;
use crate::Claims;

/// The claims of the request's verified bearer identity token.
#[derive(Debug)]
pub struct AppleIdentity(pub Claims);

/// Why [`AppleIdentity`] refused a request; answers it as described in the
/// module docs.
#[derive(Debug)]
pub struct IdentityRejection {
    error: Option<VerifyError>,
}

impl IdentityRejection {
    /// The verification error, or `None` when there was no bearer token.
    pub fn error(&self) -> Option<&VerifyError> {
        self.error.as_ref()
    }

    /// The status the rejection answers with.
    pub fn status(&self) -> StatusCode {
        match &self.error {
            Some(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

impl<S> FromRequestParts<S> for AppleIdentity
where
    Arc<Verifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = IdentityRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Some(token) = bearer(parts) else {
            return Err(IdentityRejection { error: None });
        };
        let verifier = Arc::<Verifier>::from_ref(state);
        match verifier.verify(token).await {
            Ok(claims) => Ok(Self(claims)),
            Err(error) => Err(IdentityRejection { error: Some(error) }),
        }
    }
}

impl IntoResponse for IdentityRejection {
    fn into_response(self) -> Response {
        let status = self.status();
        let (challenge, body) = match &self.error {
            None => (
                r#"Bearer realm="siwa""#.to_owned(),
                r#"{"error":"unauthorized"}"#.to_owned(),
            ),
            Some(e) if e.is_unavailable() => (
                r#"Bearer realm="siwa""#.to_owned(),
                r#"{"error":"temporarily_unavailable"}"#.to_owned(),
            ),
            Some(e) => {
                let description = description(e);
                (
                    format!(
                        r#"Bearer realm="siwa", error="invalid_token", error_description="{description}""#
                    ),
                    format!(r#"{{"error":"invalid_token","error_description":"{description}"}}"#),
                )
            }
        };
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            headers.insert(WWW_AUTHENTICATE, value);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("30"));
        }
        response
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A fixed phrase per reason: safe in a quoted header value, and holding no
/// value from the token or the configuration.
fn description(error: &VerifyError) -> &'static str {
    match error {
        VerifyError::Expired { .. } => "the token expired",
        VerifyError::IssuedInFuture { .. } | VerifyError::NotYetValid { .. } => {
            "the token is not valid yet"
        }
        VerifyError::Audience { .. } | VerifyError::AuthorizedParty { .. } => {
            "the token is for another client"
        }
        VerifyError::Issuer { .. } => "the token has the wrong issuer",
        VerifyError::Signature { .. } => "the signature does not verify",
        VerifyError::Key(KeyLookupError::UnknownKid { .. }) | VerifyError::KidMissing => {
            "the token names no known key"
        }
        VerifyError::Algorithm { .. } => "the algorithm is not accepted",
        VerifyError::NonceMismatch { .. } | VerifyError::NonceMissing { .. } => {
            "the nonce does not match"
        }
        VerifyError::Claim(_) => "a claim is missing or malformed",
        _ => "the token is malformed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ClientId;
    use crate::jwks::KeyCache;

    fn verifier() -> Arc<Verifier> {
        let keys = Arc::new(KeyCache::from_json(br#"{"keys":[]}"#).unwrap());
        Arc::new(Verifier::new(
            keys,
            [ClientId::new("com.example.ios").unwrap()],
        ))
    }

    async fn reject(authorization: Option<&str>) -> Response {
        let mut builder = axum::http::Request::builder().uri("/me");
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, value);
        }
        let (mut parts, ()) = builder.body(()).unwrap().into_parts();
        let rejection = AppleIdentity::from_request_parts(&mut parts, &verifier())
            .await
            .unwrap_err();
        rejection.into_response()
    }

    #[tokio::test]
    async fn missing_token_is_a_bare_challenge() {
        for auth in [
            None,
            Some("Basic dXNlcjpwYXNz"),
            Some("Bearer "),
            Some("Bearer"),
        ] {
            let response = reject(auth).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(
                response.headers()[WWW_AUTHENTICATE],
                r#"Bearer realm="siwa""#
            );
        }
    }

    #[tokio::test]
    async fn bad_token_is_invalid_token() {
        let response = reject(Some("bearer not.a.token")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            r#"Bearer realm="siwa", error="invalid_token", error_description="the token is malformed""#
        );
    }
}
