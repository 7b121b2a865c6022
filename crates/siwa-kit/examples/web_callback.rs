//! The web flow's callback and code exchange, with the typed errors.
//!
//! Apple posts the sign-in to the redirect URI (`response_mode=form_post`):
//! a code, the identity token, the state, and on the first sign-in only the
//! user's name. A server parses it, checks the state it kept, exchanges the
//! code, verifies the identity token with the nonce it kept, and only then
//! trusts the name. Each step fails in its own typed way, and each error
//! has a hint a person can act on.
//!
//! ```sh
//! # the body Apple would post, on stdin; the state and nonce your login kept, as arguments
//! echo 'code=c1&state=s1' | cargo run -p siwa-kit --example web_callback -- s1 n1
//! # against the emulator (siwa emulator --config examples/emulator.toml --port 8081):
//! SIWA_APPLE_BASE_URL=http://127.0.0.1:8081 SIWA_PRIVATE_KEY=examples/AuthKey_DEMOKEY001.p8 \
//!   SIWA_TEAM_ID=DEMOTEAM01 ... cargo run -p siwa-kit --example web_callback -- STATE NONCE
//! ```

use std::io::Read;
use std::sync::Arc;

use siwa_kit::callback::{Authorization, AuthorizeError, Callback, CallbackError};
use siwa_kit::claims::Nonce;
use siwa_kit::client::{
    Api, AppleClient, AppleErrorCode, ClientError, Endpoints, RedirectUri, State,
};
use siwa_kit::clock::SystemClock;
use siwa_kit::http::ReqwestClient;
use siwa_kit::id_token::{NoncePolicy, VerifyError};
use siwa_kit::ids::{ClientId, KeyId, TeamId};
use siwa_kit::jwks::KeyCache;
use siwa_kit::p8::LoadedKey;
use siwa_kit::secret::{ClientSecretBuilder, SecretCache};
use siwa_kit::{Claims, Verifier};

/// Why a callback did not sign anyone in: one variant per step.
#[derive(Debug)]
enum SignInError {
    /// Not Apple's form (missing code, a field twice, bad `user` JSON).
    Malformed(CallbackError),
    /// The user cancelled, or Apple refused the request.
    Denied(AuthorizeError),
    /// Not the state this browser's sign-in kept: a forged or replayed post.
    StateMismatch,
    /// An answer this version of siwa-kit does not know.
    Unknown,
    /// Apple refused the code: invalid, expired or already used (sign in again).
    CodeRefused,
    /// Apple refused our client secret or client id (run `siwa doctor`).
    Exchange(ClientError),
    /// The identity token did not verify (or Apple's keys are unreachable).
    Token(VerifyError),
}

impl SignInError {
    fn hint(&self) -> &'static str {
        match self {
            Self::Malformed(e) => e.hint(),
            Self::Denied(e) => e.hint(),
            Self::StateMismatch => "start the sign-in again from the same browser",
            Self::Unknown => "upgrade siwa-kit",
            Self::CodeRefused => "codes work once, for five minutes: sign in again",
            Self::Exchange(e) => e.hint(),
            Self::Token(e) => e.hint(),
        }
    }
}

/// The steps of a callback, for the state and nonce the login kept.
async fn complete_sign_in(
    apple: &AppleClient,
    verifier: &Verifier,
    redirect_uri: &RedirectUri,
    body: &[u8],
    kept_state: &State,
    kept_nonce: &Nonce,
) -> Result<(Claims, Authorization), SignInError> {
    let authorization = match Callback::parse(body).map_err(SignInError::Malformed)? {
        Callback::Authorized(authorization) => authorization,
        Callback::Denied(denial) => return Err(SignInError::Denied(denial.error)),
        // The enum may grow.
        _ => return Err(SignInError::Unknown),
    };
    if !authorization
        .state
        .as_ref()
        .is_some_and(|state| state.matches(kept_state))
    {
        return Err(SignInError::StateMismatch);
    }
    // The code proves the sign-in; Apple answers with a fresh identity token.
    let tokens = match apple
        .exchange_code(&authorization.code, Some(redirect_uri))
        .await
    {
        Ok(tokens) => tokens,
        Err(e) if e.apple_code() == Some(&AppleErrorCode::InvalidGrant) => {
            return Err(SignInError::CodeRefused)
        }
        Err(e) => return Err(SignInError::Exchange(e)),
    };
    let claims = verifier
        .verify_with_nonce(
            tokens.id_token.secret(),
            &NoncePolicy::Exact(kept_nonce.clone()),
        )
        .await
        .map_err(SignInError::Token)?;
    // Only now is the first-login name (authorization.user) worth keeping.
    Ok((claims, authorization))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let kept_state = State::new(args.next().unwrap_or_else(|| "s1".into()));
    let kept_nonce = Nonce::new(args.next().unwrap_or_else(|| "n1".into()));
    let mut body = Vec::new();
    std::io::stdin().take(64 * 1024).read_to_end(&mut body)?;

    let base = setting("SIWA_APPLE_BASE_URL", "https://appleid.apple.com");
    let endpoints = Endpoints::new(&base, Api::default())?;
    let http = Arc::new(ReqwestClient::new()?);
    let key = LoadedKey::from_setting(
        "SIWA_PRIVATE_KEY",
        &setting(
            "SIWA_PRIVATE_KEY",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/AuthKey_ABC123DEFG.p8"
            ),
        ),
    )?;
    let client_id = ClientId::new(setting("SIWA_CLIENT_ID", "com.example.web"))?;
    let builder = ClientSecretBuilder::new(
        TeamId::new(setting("SIWA_TEAM_ID", "DEF123GHIJ"))?,
        key.file_key_id()
            .map_or_else(|| KeyId::new(setting("SIWA_KEY_ID", "")), Ok)?,
        client_id.clone(),
    );
    let secrets = Arc::new(SecretCache::new(
        builder,
        Arc::new(key.into_key()),
        Arc::new(SystemClock),
    ));
    let apple = AppleClient::from_cache(secrets, http.clone()).endpoints(endpoints.clone());
    let keys = Arc::new(KeyCache::remote(endpoints.keys_uri().clone(), http));
    let verifier = Verifier::new(keys, [client_id]);
    let redirect_uri = RedirectUri::new(setting(
        "SIWA_REDIRECT_URI",
        "https://example.com/auth/apple/callback",
    ))?;

    let body = body.trim_ascii_end();
    match complete_sign_in(
        &apple,
        &verifier,
        &redirect_uri,
        body,
        &kept_state,
        &kept_nonce,
    )
    .await
    {
        Ok((claims, authorization)) => {
            println!("signed in: sub {} email {:?}", claims.sub(), claims.email());
            if let Some(user) = authorization.user {
                println!("first sign-in: keep the name now ({user:?} prints redacted)");
            }
            Ok(())
        }
        Err(e) => {
            eprintln!("no sign-in: {e:?}\n  hint: {}", e.hint());
            std::process::exit(1)
        }
    }
}

fn setting(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}
