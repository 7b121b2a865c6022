//! siwa-kit's `Verifier` against the emulator's `/auth/keys`: what the
//! emulator signs verifies, in both API families, and a key rotation is
//! picked up without a restart.

use std::sync::Arc;

use siwa_kit::client::{Api, Endpoints};
use siwa_kit::clock::Clock;
use siwa_kit::http::ReqwestClient;
use siwa_kit::id_token::NoncePolicy;
use siwa_kit::ids::ClientId;
use siwa_kit::jwks::KeyCache;
use siwa_kit::Verifier;

use crate::support::{header, Apple, WEB};

fn verifier(apple: &Apple, api: Api) -> Verifier {
    let endpoints = Endpoints::new(&apple.running.base_url(), api).unwrap();
    let keys = KeyCache::remote(
        endpoints.keys_uri().clone(),
        Arc::new(ReqwestClient::new().unwrap()),
    )
    .clock(apple.clock.clone() as Arc<dyn Clock>);
    Verifier::new(Arc::new(keys), [ClientId::new(WEB).unwrap()])
        .clock(apple.clock.clone() as Arc<dyn Clock>)
}

#[tokio::test]
async fn emulator_tokens_verify_and_a_key_rotation_is_picked_up() {
    for api in [Api::SignInWithApple, Api::OrgDataSharing] {
        let apple = Apple::start().await;
        let verifier = verifier(&apple, api);
        let first = apple.web_sign_in("alice").await["id_token"].clone();
        let claims = verifier
            .verify_with_nonce(
                &first,
                &NoncePolicy::Exact(siwa_kit::claims::Nonce::new("nonce-1")),
            )
            .await
            .unwrap();
        assert_eq!(claims.audience(), WEB);
        assert_eq!(claims.email(), Some("alice@example.com"));
        assert_eq!(claims.email_verified(), Some(true));

        let rotated: serde_json::Value = apple
            .http
            .post(apple.url("/emulator/rotate-keys"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let second = apple.web_sign_in("alice").await["id_token"].clone();
        assert_eq!(header(&second)["kid"], rotated["kid"]);
        // Past the refetch interval, the unknown kid triggers one fetch: no restart needed.
        apple.clock.advance(31);
        let claims = verifier.verify(&second).await.unwrap();
        assert_eq!(
            claims.sub(),
            verifier.verify(&first).await.unwrap().sub(),
            "the old key stays published"
        );
    }
}
