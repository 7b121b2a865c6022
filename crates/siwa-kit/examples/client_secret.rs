//! Making a client secret, and keeping one for a server's requests.
//!
//! Apple's token endpoint wants a `client_secret`: an ES256 JWT signed with
//! the team's `.p8`. A server makes one per client id and reuses it until
//! shortly before it expires; [`SecretCache`] does that, shared by every
//! request.
//!
//! ```sh
//! cargo run -p siwa-kit --example client_secret
//! SIWA_PRIVATE_KEY=AuthKey_ABC123DEFG.p8 SIWA_TEAM_ID=DEF123GHIJ \
//!   SIWA_CLIENT_ID=com.example.web cargo run -p siwa-kit --example client_secret
//! ```
//! (Without settings it uses the test key of `tests/fixtures/`.)

use std::sync::Arc;

use siwa_kit::clock::SystemClock;
use siwa_kit::ids::{ClientId, KeyId, TeamId};
use siwa_kit::p8::LoadedKey;
use siwa_kit::secret::{ClientSecretBuilder, SecretCache};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key_setting = setting(
        "SIWA_PRIVATE_KEY",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/AuthKey_ABC123DEFG.p8"
        ),
    );
    // A path or the PEM text; the Key ID comes from the name AuthKey_<KEYID>.p8.
    let loaded = LoadedKey::from_setting("SIWA_PRIVATE_KEY", &key_setting)
        .map_err(|e| format!("{e} (hint: {})", e.hint()))?;
    let key_id = match loaded.file_key_id() {
        Some(kid) => kid,
        None => KeyId::new(setting("SIWA_KEY_ID", ""))?,
    };
    let builder = ClientSecretBuilder::new(
        TeamId::new(setting("SIWA_TEAM_ID", "DEF123GHIJ"))?,
        key_id,
        ClientId::new(setting("SIWA_CLIENT_ID", "com.example.web"))?,
    )
    // Apple accepts up to six months; a server that renews can keep it short.
    .ttl_secs(3_600)?;

    // Once, at start: shared by every request (put it in your app's state).
    let secrets = SecretCache::new(builder, Arc::new(loaded.into_key()), Arc::new(SystemClock))
        // Renewed when less than 5 minutes remain.
        .renew_margin_secs(300);

    // Per request: the current secret, signed only when the last one is near its end.
    let first = secrets.current()?;
    let again = secrets.current()?;
    assert!(Arc::ptr_eq(&first, &again), "the cached secret is reused");
    println!("{}", first.secret());
    eprintln!(
        "client_secret for {}: valid until {}; reused until 5 minutes before",
        secrets.client_id(),
        first.expires_at().iso8601()
    );
    Ok(())
}

/// An environment variable, or `default`.
fn setting(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}
