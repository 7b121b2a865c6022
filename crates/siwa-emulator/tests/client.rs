//! siwa-kit's `AppleClient` and `callback` against the emulator, over real HTTP:
//! code exchange, refresh, revoke, Apple's errors and the probe, both API families.

use std::sync::Arc;
use std::time::Duration;

use siwa_kit::callback::Callback;
use siwa_kit::claims::Nonce;
use siwa_kit::client::{
    Api, AppleClient, AppleErrorCode, AuthorizationCode, AuthorizeRequest, ClientError,
    ClientSecretText, Endpoints, RedirectUri, RefreshToken, Scope, State,
};
use siwa_kit::clock::UnixTime;
use siwa_kit::doctor::Status;
use siwa_kit::http::ReqwestClient;
use siwa_kit::id_token::NoncePolicy;
use siwa_kit::ids::{ClientId, KeyId, TeamId};
use siwa_kit::jwks::KeyCache;
use siwa_kit::p8::SigningKey;
use siwa_kit::secret::ClientSecretBuilder;
use siwa_kit::{ClientSecret, Verifier};

use crate::support::{hidden_fields, key_pem, Apple, IOS, KID, REDIRECT, TEAM, WEB};

const APIS: [Api; 2] = [Api::SignInWithApple, Api::OrgDataSharing];

fn http() -> Arc<ReqwestClient> {
    Arc::new(ReqwestClient::new().unwrap())
}

fn endpoints(apple: &Apple, api: Api) -> Endpoints {
    Endpoints::new(&apple.running.base_url(), api).unwrap()
}

/// A secret signed by our builder at `at`, with this key id and ttl.
fn secret_at(client_id: &str, kid: &str, at: u64, ttl: u64) -> ClientSecret {
    let key = SigningKey::from_pem(&key_pem()).unwrap();
    ClientSecretBuilder::new(
        TeamId::new(TEAM).unwrap(),
        KeyId::new(kid).unwrap(),
        ClientId::new(client_id).unwrap(),
    )
    .ttl_secs(ttl)
    .unwrap()
    .sign(&key, UnixTime::from_secs(at))
    .unwrap()
}

fn client(apple: &Apple, api: Api, client_id: &str) -> AppleClient {
    AppleClient::new(
        ClientId::new(client_id).unwrap(),
        secret_at(client_id, KID, apple.now(), 600),
        http(),
    )
    .endpoints(endpoints(apple, api))
}

fn redirect() -> RedirectUri {
    RedirectUri::new(REDIRECT).unwrap()
}

/// Follows the client's own authorize URL with scripted consent; the callback, parsed.
async fn sign_in(apple: &Apple, client: &AppleClient, user: &str) -> Callback {
    let request = AuthorizeRequest::new(redirect())
        .scopes([Scope::Name, Scope::Email])
        .state(State::new("state 1&2"))
        .nonce(Nonce::new("nonce-1"));
    let url = client.authorize_url(&request).unwrap();
    let response = apple
        .http
        .get(format!("{url}&emulator_user={user}&emulator_consent=share"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "{:?}",
        response.headers().get("x-emulator-reason")
    );
    let fields = hidden_fields(&response.text().await.unwrap());
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&fields)
        .finish();
    Callback::parse(body.as_bytes()).unwrap()
}

async fn code_of(apple: &Apple, client: &AppleClient, user: &str) -> AuthorizationCode {
    match sign_in(apple, client, user).await {
        Callback::Authorized(auth) => auth.code,
        other => panic!("{other:?}"),
    }
}

#[track_caller]
fn assert_apple_error(
    result: Result<impl std::fmt::Debug, ClientError>,
    code: AppleErrorCode,
    reason: &str,
) -> ClientError {
    let err = result.unwrap_err();
    assert_eq!(err.apple_code(), Some(&code), "{err:?}");
    let ClientError::Apple {
        reason: why,
        status,
        ..
    } = &err
    else {
        unreachable!()
    };
    assert_eq!(*status, 400);
    let why = why.as_deref().unwrap_or_default();
    assert!(why.contains(reason), "{reason:?} not in {why:?}");
    err
}

#[tokio::test]
async fn web_flow_exchange_verify_refresh_and_revoke_in_both_api_families() {
    let apple = Apple::start().await;
    for api in APIS {
        let web = client(&apple, api, WEB);
        let Callback::Authorized(auth) = sign_in(&apple, &web, "alice").await else {
            panic!("not authorized")
        };
        assert_eq!(auth.state.as_ref().unwrap().secret(), "state 1&2");
        // `user` only on the first authorization of the app (the first family's).
        if api == Api::SignInWithApple {
            let user = auth.user.as_ref().expect("user on the first authorization");
            assert_eq!(user.first_name.as_deref(), Some("Alice"));
            assert_eq!(user.last_name.as_deref(), Some("Appleseed"));
            assert_eq!(user.email.as_deref(), Some("alice@example.com"));
        } else {
            assert!(auth.user.is_none());
        }

        let tokens = web
            .exchange_code(&auth.code, Some(&redirect()))
            .await
            .unwrap();
        assert_eq!(
            (tokens.token_type.as_str(), tokens.expires_in),
            ("Bearer", 3600)
        );
        let refresh = tokens
            .refresh_token
            .clone()
            .expect("a refresh token on the code exchange");

        // The identity token verifies against this family's /keys.
        let keys = Arc::new(KeyCache::remote(
            web.current_endpoints().keys_uri().clone(),
            http(),
        ));
        let verifier = Verifier::new(keys, [ClientId::new(WEB).unwrap()]);
        let claims = verifier
            .verify_with_nonce(
                tokens.id_token.secret(),
                &NoncePolicy::Exact(Nonce::new("nonce-1")),
            )
            .await
            .unwrap();

        let refreshed = web.refresh(&refresh).await.unwrap();
        assert!(refreshed.refresh_token.is_none());
        let again = verifier.verify(refreshed.id_token.secret()).await.unwrap();
        assert_eq!(again.sub(), claims.sub());

        web.revoke(&refresh).await.unwrap();
        web.revoke(&refresh).await.unwrap(); // idempotent
        web.revoke(&RefreshToken::new("r-never-issued"))
            .await
            .unwrap();
        let err = assert_apple_error(
            web.refresh(&refresh).await,
            AppleErrorCode::InvalidGrant,
            "",
        );
        assert!(
            err.hint().contains("sign the user in again"),
            "{}",
            err.hint()
        );
        web.revoke(&tokens.access_token).await.unwrap();
    }
}

#[tokio::test]
async fn code_reuse_expiry_and_a_wrong_redirect_uri_are_invalid_grant() {
    let apple = Apple::start().await;
    for api in APIS {
        let web = client(&apple, api, WEB);
        let code = code_of(&apple, &web, "bob").await;
        web.exchange_code(&code, Some(&redirect())).await.unwrap();
        let err = assert_apple_error(
            web.exchange_code(&code, Some(&redirect())).await,
            AppleErrorCode::InvalidGrant,
            "already used",
        );
        assert!(err.hint().contains("already used"), "{}", err.hint());

        let code = code_of(&apple, &web, "bob").await;
        let other = RedirectUri::new("https://app.example.com/other").unwrap();
        assert_apple_error(
            web.exchange_code(&code, Some(&other)).await,
            AppleErrorCode::InvalidGrant,
            "redirect_uri",
        );

        let code = code_of(&apple, &web, "bob").await;
        apple.clock.advance(301);
        // A secret signed at the emulator's new now.
        let web = client(&apple, api, WEB);
        assert_apple_error(
            web.exchange_code(&code, Some(&redirect())).await,
            AppleErrorCode::InvalidGrant,
            "expired",
        );
    }
}

#[tokio::test]
async fn broken_client_secrets_are_invalid_client_and_the_probe_says_so() {
    let apple = Apple::start().await;
    let now = apple.now();
    let web_id = || ClientId::new(WEB).unwrap();
    let cases: Vec<(&str, AppleClient)> = vec![
        (
            "secret for another client id",
            AppleClient::new(web_id(), secret_at(IOS, KID, now, 600), http()),
        ),
        (
            "expired secret",
            AppleClient::new(web_id(), secret_at(WEB, KID, now - 7200, 600), http()),
        ),
        (
            "iat in the future",
            AppleClient::new(web_id(), secret_at(WEB, KID, now + 3600, 600), http()),
        ),
        (
            "unknown key id",
            AppleClient::new(web_id(), secret_at(WEB, "ZZZZZZZZZZ", now, 600), http()),
        ),
        (
            "not a JWT",
            AppleClient::new(web_id(), ClientSecretText::new("not-a-jwt"), http()),
        ),
    ];
    for api in APIS {
        for (name, broken) in &cases {
            let broken = broken.clone().endpoints(endpoints(&apple, api));
            let err = broken
                .exchange_code(&AuthorizationCode::new("c0.0.abcd.x"), None)
                .await
                .unwrap_err();
            assert_eq!(
                err.apple_code(),
                Some(&AppleErrorCode::InvalidClient),
                "{name}: {err:?}"
            );
            let ClientError::Apple { reason, .. } = &err else {
                unreachable!()
            };
            assert!(
                reason.as_deref().is_some_and(|r| !r.is_empty()),
                "{name}: no X-Emulator-Reason"
            );
            assert!(err.hint().contains("siwa doctor"), "{}", err.hint());
            assert_eq!(
                broken
                    .refresh(&RefreshToken::new("r-x"))
                    .await
                    .unwrap_err()
                    .apple_code(),
                Some(&AppleErrorCode::InvalidClient),
                "{name}"
            );
            assert_eq!(
                broken
                    .revoke(&RefreshToken::new("r-x"))
                    .await
                    .unwrap_err()
                    .apple_code(),
                Some(&AppleErrorCode::InvalidClient),
                "{name}"
            );
            let check = broken.probe().await;
            assert_eq!(check.status, Status::Fail, "{name}: {check:?}");
            assert!(
                check.message.contains("invalid_client"),
                "{}",
                check.message
            );
        }
        let check = client(&apple, api, WEB).probe().await;
        assert_eq!(check.status, Status::Pass, "{check:?}");
    }
}

#[tokio::test]
async fn a_native_apps_code_is_exchanged_with_its_bundle_id() {
    let apple = Apple::start().await;
    let web = client(&apple, Api::SignInWithApple, WEB);
    let native: serde_json::Value = apple
        .http
        .post(apple.url("/emulator/native"))
        .json(&serde_json::json!({"client_id": IOS, "user": "alice"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = AuthorizationCode::new(native["authorization_code"].as_str().unwrap());
    // With the web client's id, Apple refuses the code.
    let err = web.exchange_code(&code, None).await.unwrap_err();
    assert!(err.apple_code().is_some(), "{err:?}");
    let native = web.for_client(
        ClientId::new(IOS).unwrap(),
        secret_at(IOS, KID, apple.now(), 600),
    );
    let code = AuthorizationCode::new(
        apple
            .http
            .post(apple.url("/emulator/native"))
            .json(&serde_json::json!({"client_id": IOS, "user": "alice"}))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()["authorization_code"]
            .as_str()
            .unwrap(),
    );
    let tokens = native.exchange_code(&code, None).await.unwrap();
    assert!(tokens.refresh_token.is_some());
}

#[tokio::test]
async fn failures_and_stalls_of_the_server_are_bounded_errors() {
    let apple = Apple::start().await;
    let fault = |body: serde_json::Value| {
        let request = apple.http.post(apple.url("/emulator/faults")).json(&body);
        async move { assert_eq!(request.send().await.unwrap().status(), 200) }
    };
    fault(serde_json::json!({"route": "/auth/token", "status": 500, "count": 1})).await;
    let web = client(&apple, Api::SignInWithApple, WEB);
    let err = web.refresh(&RefreshToken::new("r-x")).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Unexpected { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.hint().contains("retry"), "{}", err.hint());

    fault(serde_json::json!({"route": "/auth/token", "delay_ms": 3000, "count": 1})).await;
    let impatient =
        Arc::new(ReqwestClient::with_limits(Duration::from_millis(300), 64 * 1024).unwrap());
    let web = AppleClient::new(
        ClientId::new(WEB).unwrap(),
        secret_at(WEB, KID, apple.now(), 600),
        impatient,
    )
    .endpoints(endpoints(&apple, Api::SignInWithApple));
    let err = web.refresh(&RefreshToken::new("r-x")).await.unwrap_err();
    assert!(matches!(err, ClientError::Http { .. }), "{err:?}");
    assert!(std::error::Error::source(&err).is_some());
}
