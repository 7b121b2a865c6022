//! What can go wrong in the web flow, and the page each shows: a fixed
//! phrase for the browser (with the request id), the detail in the log.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use siwa_kit::callback::{AuthorizeError, CallbackError};
use siwa_kit::id_token::VerifyError;

use crate::error::RETRY_AFTER_OUTAGE_SECS;
use crate::pages::error_page;
use crate::signin::CompleteError;
use crate::store::StoreError;

/// A web sign-in that did not complete.
#[derive(Debug)]
pub(crate) enum WebFailure {
    /// The callback came back re-posted, still without the login cookie.
    CookieLost,
    /// Not Apple's form (or an oversized or ambiguous one).
    Malformed(CallbackError),
    /// No `state`.
    NoState,
    /// A state unknown, expired or used already.
    UnknownState,
    /// The state was issued to another browser.
    OtherBrowser,
    /// Apple (or the user) refused.
    Denied(AuthorizeError),
    /// Neither a code nor an error.
    Unexpected,
    /// Apple's answer without an identity token.
    NoIdentityToken,
    /// Apple's keys cannot be fetched.
    KeysUnavailable(VerifyError),
    /// The identity token does not verify for this sign-in.
    TokenRejected(VerifyError),
    /// The identity token is for another of our Services IDs.
    WrongAudience,
    /// The store failed.
    Store(StoreError),
    /// The code exchange or the recording of the sign-in failed.
    Completion(CompleteError),
    /// Our session token could not be signed.
    Signing,
}

impl IntoResponse for WebFailure {
    fn into_response(self) -> Response {
        let (status, title, detail) = match &self {
            Self::CookieLost => (
                StatusCode::BAD_REQUEST,
                "Your browser did not keep the sign-in cookie",
                "The sign-in must finish in the browser that started it, with cookies enabled. Start again from this browser.",
            ),
            Self::Malformed(e) => {
                tracing::info!(error = %e, "malformed callback");
                (
                    StatusCode::BAD_REQUEST,
                    "Apple's answer could not be read",
                    "Start the sign-in again.",
                )
            }
            Self::NoState => (
                StatusCode::BAD_REQUEST,
                "The sign-in has no state",
                "Start the sign-in again.",
            ),
            Self::UnknownState => (
                StatusCode::BAD_REQUEST,
                "This sign-in has expired or was already used",
                "The state is unknown: it was used once already, is older than 10 minutes, or was not issued here. Start again.",
            ),
            Self::OtherBrowser => (
                StatusCode::BAD_REQUEST,
                "State mismatch",
                "This sign-in was started in another browser or tab session. Start again from this browser.",
            ),
            Self::Denied(error) => {
                tracing::info!(error = error.as_str(), "Apple denied the authorization");
                match error {
                    AuthorizeError::UserCancelledAuthorize => (
                        StatusCode::BAD_REQUEST,
                        "Sign-in cancelled",
                        "You cancelled Sign in with Apple. Nothing was shared.",
                    ),
                    _ => (
                        StatusCode::BAD_REQUEST,
                        "Apple refused the sign-in",
                        "Apple answered with an error; see the service log.",
                    ),
                }
            }
            Self::Unexpected => (
                StatusCode::BAD_REQUEST,
                "Unexpected answer from Apple",
                "Start again.",
            ),
            Self::NoIdentityToken => (
                StatusCode::BAD_REQUEST,
                "Apple's answer has no identity token",
                "Start again.",
            ),
            Self::KeysUnavailable(e) => {
                tracing::warn!(error = %e, "Apple's keys are unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sign-in is unavailable",
                    "Apple cannot be reached right now. Please try again in a moment.",
                )
            }
            Self::TokenRejected(e) => {
                tracing::warn!(error = %e, "identity token rejected");
                (
                    StatusCode::BAD_REQUEST,
                    "The identity token was rejected",
                    "Apple's answer does not belong to this sign-in. Start again.",
                )
            }
            Self::WrongAudience => {
                tracing::warn!("identity token for another Services ID than the sign-in's");
                (
                    StatusCode::BAD_REQUEST,
                    "The identity token was rejected",
                    "Apple's answer does not belong to this sign-in. Start again.",
                )
            }
            Self::Store(e) | Self::Completion(CompleteError::Store(e)) => return store_failed(e),
            Self::Completion(e @ CompleteError::TokenAlreadySpent) => {
                tracing::info!(error = %e, "web sign-in refused");
                (
                    StatusCode::BAD_REQUEST,
                    "This sign-in was already used",
                    "Start the sign-in again.",
                )
            }
            Self::Completion(
                e @ (CompleteError::Apple(_)
                | CompleteError::ExchangedToken(_)
                | CompleteError::SubjectMismatch),
            ) => {
                tracing::warn!(error = %e, "code exchange failed");
                (
                    StatusCode::BAD_GATEWAY,
                    "Apple did not confirm the sign-in",
                    "Nothing is lost: sign in again in a moment.",
                )
            }
            Self::Completion(e) => {
                tracing::error!(error = %e, "sign-in failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sign-in failed",
                    "Please try again in a moment.",
                )
            }
            Self::Signing => {
                tracing::error!("cannot sign the web session token");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Sign-in failed",
                    "Please try again in a moment.",
                )
            }
        };
        error_page(status, title, detail)
    }
}

/// A store failure, as a page: 503 with `Retry-After` during an outage (the
/// store logged it), else a 500 whose cause is logged here.
fn store_failed(e: &StoreError) -> Response {
    if e.outage().is_none() {
        tracing::error!(error = %e, "sign-in failed in the store");
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in failed",
            "Please try again in a moment.",
        );
    }
    let mut page = error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Sign-in is unavailable",
        "Please try again in a moment.",
    );
    page.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(RETRY_AFTER_OUTAGE_SECS),
    );
    page
}
