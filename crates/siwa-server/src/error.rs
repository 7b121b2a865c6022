//! Errors of the JSON routes: a stable code, a fixed phrase and the request
//! id for the client; the cause goes to the log under that id, never to the
//! client. Messages are `&'static str`, so no detail can slip into one.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;

use crate::request_id;

/// An error answered as `{"error": code, "message": message, "request_id": id}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: &'static str,
    retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: &'static str) -> Self {
        Self {
            status,
            code,
            message,
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(code: &'static str, message: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn unauthorized(message: &'static str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// Too many requests; retry after `secs`.
    pub(crate) fn rate_limited(secs: u64) -> Self {
        Self {
            retry_after: Some(secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests; retry later",
            )
        }
    }

    /// The database is unavailable (the store logged the outage): retry shortly.
    pub(crate) fn unavailable() -> Self {
        Self {
            retry_after: Some(RETRY_AFTER_OUTAGE_SECS),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service is unavailable for a moment; retry shortly",
            )
        }
    }

    /// A failure of ours or of a dependency: logged with its cause, answered generically.
    pub(crate) fn internal(context: &'static str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(context, cause = %cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side; try again",
        )
    }

    /// Apple could not be reached or refused.
    pub(crate) fn apple(context: &'static str, cause: impl std::fmt::Display) -> Self {
        tracing::warn!(context, cause = %cause, "Apple call failed");
        Self::new(
            StatusCode::BAD_GATEWAY,
            "apple_unavailable",
            "Apple did not confirm the sign-in; try again in a moment",
        )
    }
}

/// The body of every error of the JSON routes (the OpenAPI document's `Error`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody {
    /// A stable code a client may branch on (`invalid_token`, `rate_limited`, `unavailable`, ...).
    #[schema(example = "invalid_token")]
    error: &'static str,
    /// A fixed phrase for people; never the cause, which is logged under the request id.
    #[schema(example = "the identity token was rejected")]
    message: &'static str,
    /// The id of this request (also in `X-Request-Id`), for the operator's log.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            message: self.message,
            request_id: request_id::current(),
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        if let Some(secs) = self.retry_after {
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                headers.insert(header::RETRY_AFTER, value);
            }
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e.outage() {
            // Logged by the store, once per outage.
            Some(_) => Self::unavailable(),
            None => Self::internal("store", e),
        }
    }
}

/// `Retry-After` of answers during a database outage, seconds.
pub(crate) const RETRY_AFTER_OUTAGE_SECS: u64 = 5;

/// A JSON body whose rejection is an [`ApiError`] (the parser's detail goes to the log).
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(rejected(&rejection)),
        }
    }
}

fn rejected(rejection: &JsonRejection) -> ApiError {
    tracing::info!(error = %rejection.body_text(), "request body refused");
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(status, "too_large", "the request body is too large");
    }
    ApiError::new(
        status,
        "invalid_request",
        "the request body is not the JSON this route takes; see the API documentation",
    )
}
