//! Sending HTTP requests: a small trait, so tests and the emulator can stand
//! in for the network.
//!
//! Requests and responses are plain [`http::Request<Vec<u8>>`] and
//! [`http::Response<Vec<u8>>`]; building them and reading them are pure
//! functions elsewhere in the crate. [`ReqwestClient`] (default feature
//! `reqwest`) sends them over rustls with redirects off, timeouts and a cap on
//! the response body.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use thiserror::Error;

/// What [`HttpClient::send`] returns: a boxed future, so the trait can be
/// used as `Arc<dyn HttpClient>`.
pub type HttpFuture<'a> =
    Pin<Box<dyn Future<Output = Result<http::Response<Vec<u8>>, HttpError>> + Send + 'a>>;

/// Sends one request and reads the whole response.
///
/// Implementations must not follow redirects, must bound the time a request
/// may take, and must refuse response bodies over a size limit. Any status is
/// a response (`Ok`), not an error.
pub trait HttpClient: fmt::Debug + Send + Sync {
    /// Sends `request` and returns the response with its body read.
    fn send(&self, request: http::Request<Vec<u8>>) -> HttpFuture<'_>;
}

/// Why a request got no response.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The response body is larger than the client's limit.
    #[error("the response body is larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// No complete response within the time limit.
    #[error("no response within {} ms", after.as_millis())]
    Timeout {
        /// The limit that was reached.
        after: Duration,
    },
    /// The request could not be sent or the response not read (DNS, TCP,
    /// TLS, a malformed response).
    #[error("the request failed: {message}")]
    Transport {
        /// What went wrong, without the request's body.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl HttpError {
    /// A transport failure with its cause.
    pub fn transport(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Transport {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::BodyTooLarge { .. } => {
                "check the URL: it answers with far more than the expected document"
            }
            Self::Timeout { .. } => "check the network path to the server, or raise the timeout",
            Self::Transport { .. } => {
                "check the URL, DNS, the network and the server's TLS certificate"
            }
        }
    }
}

#[cfg(feature = "reqwest")]
pub use self::reqwest_client::ReqwestClient;

#[cfg(feature = "reqwest")]
mod reqwest_client {
    use std::time::Duration;

    use super::{HttpClient, HttpError, HttpFuture};

    /// [`HttpClient`] over reqwest with rustls: redirects off, a timeout on the
    /// whole exchange and on connecting, a cap on the response body.
    #[derive(Clone, Debug)]
    pub struct ReqwestClient {
        client: reqwest::Client,
        timeout: Duration,
        max_body: usize,
    }

    impl ReqwestClient {
        /// Default time for a whole request: 10 s.
        pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
        /// Default time to connect: 5 s.
        pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
        /// Default cap on a response body: 1 MiB.
        pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

        /// A client with the default timeouts and body cap.
        pub fn new() -> Result<Self, HttpError> {
            Self::with_limits(Self::DEFAULT_TIMEOUT, Self::DEFAULT_MAX_BODY)
        }

        /// A client with this timeout for a whole request (connecting takes at
        /// most the smaller of it and 5 s) and this cap on response bodies.
        pub fn with_limits(timeout: Duration, max_body: usize) -> Result<Self, HttpError> {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(timeout)
                .connect_timeout(timeout.min(Self::DEFAULT_CONNECT_TIMEOUT))
                .user_agent(concat!("siwa-kit/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| HttpError::transport("cannot build the HTTP client", e))?;
            Ok(Self {
                client,
                timeout,
                max_body,
            })
        }

        async fn exchange(
            &self,
            request: http::Request<Vec<u8>>,
        ) -> Result<http::Response<Vec<u8>>, HttpError> {
            let request = reqwest::Request::try_from(request)
                .map_err(|e| HttpError::transport("the request is not valid", e))?;
            let mut response = self
                .client
                .execute(request)
                .await
                .map_err(|e| self.error(e))?;
            if response
                .content_length()
                .is_some_and(|len| len > self.max_body as u64)
            {
                return Err(HttpError::BodyTooLarge {
                    limit: self.max_body,
                });
            }
            let mut builder = http::Response::builder()
                .status(response.status())
                .version(response.version());
            if let Some(headers) = builder.headers_mut() {
                *headers = std::mem::take(response.headers_mut());
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| self.error(e))? {
                if body.len() + chunk.len() > self.max_body {
                    return Err(HttpError::BodyTooLarge {
                        limit: self.max_body,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            builder
                .body(body)
                .map_err(|e| HttpError::transport("the response is not valid", e))
        }

        fn error(&self, e: reqwest::Error) -> HttpError {
            if e.is_timeout() {
                HttpError::Timeout {
                    after: self.timeout,
                }
            } else {
                // Without the URL: it may carry a query the caller considers private.
                let e = e.without_url();
                let mut message = e.to_string();
                let mut cause = std::error::Error::source(&e);
                while let Some(inner) = cause {
                    message.push_str(": ");
                    message.push_str(&inner.to_string());
                    cause = inner.source();
                }
                HttpError::Transport {
                    message,
                    source: Some(Box::new(e)),
                }
            }
        }
    }

    impl HttpClient for ReqwestClient {
        fn send(&self, request: http::Request<Vec<u8>>) -> HttpFuture<'_> {
            Box::pin(self.exchange(request))
        }
    }
}
