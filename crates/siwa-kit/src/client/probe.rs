//! Apple's own verdict on a client_secret: exchange a made-up code and read
//! which error comes back. Apple judges the client before the code, so
//! `invalid_grant` means the client_secret was accepted and `invalid_client`
//! means it was not.

use crate::client::error::{AppleErrorCode, ClientError};
use crate::client::tokens::{AuthorizationCode, TokenResponse};
use crate::client::AppleClient;
use crate::doctor::{Check, CheckId};

/// The code the probe exchanges: shaped like Apple's (33 hex characters,
/// `.0.`, a lowercase tag, 22 base64url characters), but never issued.
pub const PROBE_CODE: &str = "c00000000000000000000000000000000.0.probe.siwa-doctor-probe-0000";

impl AppleClient {
    /// Asks the token endpoint to judge the client_secret with [`PROBE_CODE`]
    /// and no redirect_uri; the verdict is the `apple.probe` check.
    pub async fn probe(&self) -> Check {
        let answer = self
            .exchange_code(&AuthorizationCode::new(PROBE_CODE), None)
            .await;
        probe_check(&answer)
    }
}

/// The `apple.probe` check for the answer to the probe's code exchange:
/// pass on `invalid_grant`, fail on `invalid_client` or `unauthorized_client`,
/// warn when the answer is no verdict on the secret (no answer, another
/// error, or tokens for a made-up code).
pub fn probe_check(answer: &Result<TokenResponse, ClientError>) -> Check {
    let id = CheckId::AppleProbe;
    let Err(error) = answer else {
        return Check::warn(
            id,
            "the server issued tokens for a made-up code: it does not judge codes as Apple does",
            "check the base URL: it should be https://appleid.apple.com or the emulator",
        );
    };
    match error {
        ClientError::Apple {
            code: AppleErrorCode::InvalidGrant,
            ..
        } => Check::pass(
            id,
            "Apple accepted the client_secret (it answered invalid_grant to a made-up code, as it does once the client is authenticated)",
        ),
        ClientError::Apple {
            code: AppleErrorCode::InvalidClient,
            reason,
            ..
        } => {
            let why = reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            Check::fail(
                id,
                format!("Apple rejected the client_secret (invalid_client){why}"),
                "the other checks say why; if they all pass, check that the key is not revoked, belongs to this team, has Sign in with Apple enabled, and that the client id is configured for Sign in with Apple",
            )
        }
        ClientError::Apple {
            code: code @ AppleErrorCode::UnauthorizedClient,
            ..
        } => Check::fail(
            id,
            format!("Apple refused the client: {code}"),
            code.hint(),
        ),
        ClientError::Apple { code, .. } => Check::warn(
            id,
            format!("Apple answered {code}, which says nothing about the client_secret"),
            code.hint(),
        ),
        other => Check::warn(
            id,
            format!("no verdict from Apple: {}", chain(other)),
            other.hint(),
        ),
    }
}

/// The error and its causes, on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        // Some errors repeat their cause's text in their own; say it once.
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
