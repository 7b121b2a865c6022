//! Handling a server-to-server notification.
//!
//! Apple POSTs `{"payload":"<JWT>"}` to the notification URL registered for
//! the app when a user stops using Sign in with Apple, deletes their
//! account, or turns the private relay's forwarding on or off. Verify it
//! (Apple's signature, issuer, audience = your client ids, expiry), apply
//! it once (remember its `jti`), and answer 200; answer an error to have
//! Apple retry.
//!
//! ```sh
//! # the body Apple would post, on stdin
//! cargo run -p siwa-kit --example notification < body.json
//! # against the emulator: SIWA_APPLE_BASE_URL=http://127.0.0.1:8081 SIWA_CLIENT_ID=com.example.web
//! ```

use std::io::Read;
use std::sync::Arc;

use siwa_kit::client::{Api, Endpoints};
use siwa_kit::http::ReqwestClient;
use siwa_kit::ids::ClientId;
use siwa_kit::jwks::KeyCache;
use siwa_kit::notification::{EventKind, Notification, NotificationError};
use siwa_kit::Verifier;

/// What the service does about one verified notification.
fn apply(notification: &Notification) -> String {
    let event = notification.event();
    let user = event.sub();
    match event.kind() {
        EventKind::ConsentRevoked => {
            format!("{user} stopped using Sign in with Apple: end their sessions")
        }
        EventKind::AccountDelete => format!("{user} deleted their Apple account: erase their data"),
        EventKind::EmailDisabled => format!("mail to {:?} is no longer forwarded", event.email()),
        EventKind::EmailEnabled => format!("mail to {:?} is forwarded again", event.email()),
        // Apple may add kinds: record and acknowledge them.
        other => format!("{user}: {} (not handled)", other.as_str()),
    }
}

/// The answer to Apple: 200 once applied, 400 for a notification that is not
/// Apple's (never retried), 503 when Apple's keys cannot be fetched (retried).
fn status_of(result: &Result<Notification, NotificationError>) -> u16 {
    match result {
        Ok(_) => 200,
        Err(NotificationError::Token(e)) if e.is_unavailable() => 503,
        Err(_) => 400,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base =
        std::env::var("SIWA_APPLE_BASE_URL").unwrap_or_else(|_| "https://appleid.apple.com".into());
    let endpoints = Endpoints::new(&base, Api::default())?;
    let keys = Arc::new(KeyCache::remote(
        endpoints.keys_uri().clone(),
        Arc::new(ReqwestClient::new()?),
    ));
    let client_id = std::env::var("SIWA_CLIENT_ID").unwrap_or_else(|_| "com.example.web".into());
    let verifier = Verifier::new(keys, [ClientId::new(client_id)?]);

    let mut body = Vec::new();
    std::io::stdin().take(64 * 1024).read_to_end(&mut body)?;
    let result = verifier.verify_notification_body(&body).await;
    let status = status_of(&result);
    match result {
        Ok(notification) => {
            // Apply it in the same transaction that records its jti, so that
            // Apple's retry of a notification already applied changes nothing.
            println!("{} (jti {})", apply(&notification), notification.jti());
        }
        Err(e) => eprintln!("refused: {e}\n  hint: {}", e.hint()),
    }
    println!("answer Apple: HTTP {status}");
    Ok(())
}
