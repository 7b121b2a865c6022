//! Apple's routes driven as a web or native client would.

use serde_json::Value;

use crate::support::{claims, header, hidden_fields, Apple, Reply, IOS, REDIRECT, WEB};

#[tokio::test]
async fn form_post_carries_code_id_token_state_and_user_on_first_authorization_only() {
    let apple = Apple::start().await;
    let first = apple.web_sign_in("alice").await;
    assert!(first["code"].starts_with('c'));
    assert_eq!(first["state"], "state-1");
    let user: Value = serde_json::from_str(&first["user"]).unwrap();
    assert_eq!(user["name"]["firstName"], "Alice");
    assert_eq!(user["name"]["lastName"], "Appleseed");
    assert_eq!(user["email"], "alice@example.com");
    let id = claims(&first["id_token"]);
    assert_eq!(id["aud"], WEB);
    assert_eq!(id["iss"], "https://appleid.apple.com");
    assert_eq!(id["nonce"], "nonce-1");
    assert_eq!(id["email_verified"], "true");
    assert_eq!(id["is_private_email"], "false");
    assert_eq!(id["nonce_supported"], true);
    assert!(id["c_hash"].is_string());
    assert!(id.get("real_user_status").is_none());
    assert_eq!(header(&first["id_token"])["alg"], "RS256");

    let second = apple.web_sign_in("alice").await;
    assert!(
        !second.contains_key("user"),
        "user JSON is sent once: {second:?}"
    );
    assert_eq!(
        claims(&second["id_token"])["sub"],
        id["sub"],
        "sub is stable"
    );
    let bob = apple.web_sign_in("bob").await;
    assert!(bob.contains_key("user"));
    assert_ne!(claims(&bob["id_token"])["sub"], id["sub"]);
}

#[tokio::test]
async fn consent_page_hides_email_or_cancels() {
    let apple = Apple::start().await;
    let params = [
        ("client_id", WEB),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("response_mode", "form_post"),
        ("scope", "email"),
        ("state", "s<&>"),
    ];
    let page = apple
        .http
        .get(apple.url("/auth/authorize"))
        .query(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Hide My Email") && html.contains("alice@example.com"),
        "{html}"
    );
    let mut form: Vec<(String, String)> = hidden_fields(&html).into_iter().collect();
    assert!(form.iter().any(|(k, v)| k == "state" && v == "s<&>"));
    form.push(("user".into(), "bob".into()));
    form.push(("consent".into(), "hide".into()));
    let mut continued = form.clone();
    continued.push(("action".into(), "continue".into()));
    let answer = apple
        .http
        .post(apple.url("/emulator/consent"))
        .form(&continued)
        .send()
        .await
        .unwrap();
    let fields = hidden_fields(&answer.text().await.unwrap());
    let user: Value = serde_json::from_str(&fields["user"]).unwrap();
    let relay = user["email"].as_str().unwrap();
    assert!(relay.ends_with("@privaterelay.appleid.com"), "{relay}");
    assert!(user.get("name").is_none(), "only the email scope was asked");
    assert!(!fields.contains_key("id_token"), "response_type was code");

    form.push(("action".into(), "cancel".into()));
    let cancelled = apple
        .http
        .post(apple.url("/emulator/consent"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let fields = hidden_fields(&cancelled.text().await.unwrap());
    assert_eq!(fields["error"], "user_cancelled_authorize");
    assert_eq!(fields["state"], "s<&>");
}

#[tokio::test]
async fn query_and_fragment_modes_redirect() {
    let apple = Apple::start().await;
    let get = |params: Vec<(&'static str, &'static str)>| {
        let request = apple.http.get(apple.url("/auth/authorize")).query(&params);
        async move { request.send().await.unwrap() }
    };
    let query = get(vec![
        ("client_id", WEB),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("state", "q"),
        ("emulator_user", "alice"),
    ])
    .await;
    assert_eq!(query.status(), 302);
    let location = query.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{REDIRECT}?code=c")) && location.ends_with("&state=q"),
        "{location}"
    );
    let fragment = get(vec![
        ("client_id", WEB),
        ("redirect_uri", REDIRECT),
        ("response_type", "code id_token"),
        ("response_mode", "fragment"),
        ("emulator_user", "alice"),
    ])
    .await;
    let location = fragment.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains("#code=") && location.contains("&id_token=ey"),
        "{location}"
    );
}

#[tokio::test]
async fn authorize_refuses_bad_requests_with_apples_errors() {
    let apple = Apple::start().await;
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case; 6] = [
        (
            &[
                ("client_id", "com.unknown"),
                ("redirect_uri", REDIRECT),
                ("response_type", "code"),
            ],
            "invalid_client",
            "not configured",
        ),
        (
            &[
                ("client_id", WEB),
                ("redirect_uri", "https://evil.example/cb"),
                ("response_type", "code"),
            ],
            "invalid_request",
            "not registered",
        ),
        (
            &[
                ("client_id", WEB),
                ("redirect_uri", REDIRECT),
                ("response_type", "token"),
            ],
            "invalid_request",
            "response_type",
        ),
        (
            &[
                ("client_id", WEB),
                ("redirect_uri", REDIRECT),
                ("response_type", "code"),
                ("scope", "email"),
                ("response_mode", "query"),
            ],
            "invalid_request",
            "form_post",
        ),
        (
            &[
                ("client_id", WEB),
                ("redirect_uri", REDIRECT),
                ("response_type", "code"),
                ("scope", "phone"),
                ("response_mode", "form_post"),
            ],
            "invalid_scope",
            "phone",
        ),
        (
            &[
                ("client_id", WEB),
                ("client_id", WEB),
                ("redirect_uri", REDIRECT),
                ("response_type", "code"),
            ],
            "invalid_request",
            "repeated",
        ),
    ];
    for (params, code, reason) in cases {
        let response = apple
            .http
            .get(apple.url("/auth/authorize"))
            .query(params)
            .send()
            .await
            .unwrap();
        let reply = Reply::read(response).await;
        reply.assert_error(code);
        assert!(
            reply.reason.as_deref().unwrap_or("").contains(reason),
            "{reply:?}"
        );
    }
}

#[tokio::test]
async fn code_exchange_refresh_and_revoke() {
    let apple = Apple::start().await;
    let code = apple.web_sign_in("alice").await["code"].clone();
    let reply = apple.exchange("/auth", WEB, &code, Some(REDIRECT)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.headers["cache-control"], "no-store");
    let tokens = reply.json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert!(refresh.starts_with('r') && tokens["access_token"].as_str().unwrap().starts_with('a'));
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert!(id["at_hash"].is_string() && id.get("c_hash").is_none());
    assert_eq!(id["nonce"], "nonce-1");
    assert_eq!(id["email"], "alice@example.com");

    let secret = apple.secret(WEB);
    let refreshed = apple
        .post_form(
            "/auth/token",
            &[
                ("client_id", WEB),
                ("client_secret", &secret),
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
            ],
        )
        .await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    let body = refreshed.json();
    assert!(
        body.get("refresh_token").is_none(),
        "the refresh grant returns no refresh_token"
    );
    assert_eq!(claims(body["id_token"].as_str().unwrap())["sub"], id["sub"]);

    let revoked = apple
        .post_form(
            "/auth/revoke",
            &[
                ("client_id", WEB),
                ("client_secret", &secret),
                ("token", &refresh),
                ("token_type_hint", "refresh_token"),
            ],
        )
        .await;
    assert_eq!((revoked.status, revoked.text.as_str()), (200, ""));
    let again = apple
        .post_form(
            "/auth/revoke",
            &[
                ("client_id", WEB),
                ("client_secret", &secret),
                ("token", "r-unknown"),
            ],
        )
        .await;
    assert_eq!(again.status, 200, "revoke is idempotent");
    let entries = apple.revocations().await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["token"], refresh.as_str());
    assert_eq!(entries[0]["user"], "alice");
    let after = apple
        .post_form(
            "/auth/token",
            &[
                ("client_id", WEB),
                ("client_secret", &secret),
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
            ],
        )
        .await;
    after.assert_error("invalid_grant");
}

#[tokio::test]
async fn an_access_token_is_revoked_within_its_hour_and_forgotten_after_it() {
    let apple = Apple::start().await;
    let mut access = Vec::new();
    for _ in 0..2 {
        let code = apple.web_sign_in("alice").await["code"].clone();
        let reply = apple.exchange("/auth", WEB, &code, Some(REDIRECT)).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        access.push(reply.json()["access_token"].as_str().unwrap().to_owned());
    }
    let revoke = |token: String| {
        let apple = &apple;
        async move {
            // A secret of the moment (the clock moves past an hour).
            let secret = apple.secret(WEB);
            let reply = apple
                .post_form(
                    "/auth/revoke",
                    &[
                        ("client_id", WEB),
                        ("client_secret", &secret),
                        ("token", &token),
                    ],
                )
                .await;
            assert_eq!(reply.status, 200, "revoke answers 200 either way");
        }
    };
    revoke(access[0].clone()).await;
    apple.clock.advance(3_601);
    // A sign-in after the hour sweeps what expired; the second token is
    // past its hour: no longer a token, its revocation records nothing.
    apple.web_sign_in("bob").await;
    revoke(access[1].clone()).await;
    let revoked = apple.revocations().await;
    let tokens: Vec<&str> = revoked
        .iter()
        .map(|r| r["token"].as_str().unwrap())
        .collect();
    assert_eq!(tokens, [access[0].as_str()]);
}

#[tokio::test]
async fn codes_are_single_use_short_lived_and_bound_to_the_redirect_uri() {
    let apple = Apple::start().await;
    let code = apple.web_sign_in("alice").await["code"].clone();
    assert_eq!(
        apple
            .exchange("/auth", WEB, &code, Some(REDIRECT))
            .await
            .status,
        200
    );
    let reuse = apple.exchange("/auth", WEB, &code, Some(REDIRECT)).await;
    reuse.assert_error("invalid_grant");
    assert!(reuse.reason.unwrap().contains("already used"));

    let code = apple.web_sign_in("alice").await["code"].clone();
    let wrong = apple
        .exchange("/auth", WEB, &code, Some("https://app.example.com/other"))
        .await;
    wrong.assert_error("invalid_grant");
    assert!(wrong.reason.unwrap().contains("redirect_uri"));

    let code = apple.web_sign_in("alice").await["code"].clone();
    apple.clock.advance(301);
    let expired = apple.exchange("/auth", WEB, &code, Some(REDIRECT)).await;
    expired.assert_error("invalid_grant");
    assert!(expired.reason.unwrap().contains("expired"));

    apple
        .exchange("/auth", WEB, "c0000.0.abcd.unknown", Some(REDIRECT))
        .await
        .assert_error("invalid_grant");
}

#[tokio::test]
async fn token_endpoint_request_errors() {
    let apple = Apple::start().await;
    let secret = apple.secret(WEB);
    apple
        .post_form(
            "/auth/token",
            &[("client_id", WEB), ("client_secret", &secret)],
        )
        .await
        .assert_error("invalid_request");
    apple
        .post_form(
            "/auth/token",
            &[
                ("client_id", WEB),
                ("client_secret", &secret),
                ("grant_type", "password"),
            ],
        )
        .await
        .assert_error("unsupported_grant_type");
    apple
        .post_form(
            "/auth/token",
            &[
                ("client_id", WEB),
                ("grant_type", "authorization_code"),
                ("code", "x"),
            ],
        )
        .await
        .assert_error("invalid_request");
    let json = apple
        .http
        .post(apple.url("/auth/token"))
        .json(&serde_json::json!({"grant_type": "x"}))
        .send()
        .await
        .unwrap();
    Reply::read(json).await.assert_error("invalid_request");
    let reply = apple
        .post_form(
            "/auth/token",
            &[
                ("client_id", WEB),
                ("client_secret", &secret),
                ("grant_type", "password"),
            ],
        )
        .await;
    assert_eq!(
        reply.headers["content-type"],
        "application/json;charset=UTF-8"
    );
    assert_eq!(reply.headers["pragma"], "no-cache");
}

#[tokio::test]
async fn native_sign_in_and_exchange_with_the_bundle_id() {
    let apple = Apple::start().await;
    let native = |consent: &'static str| {
        let request = apple
            .http
            .post(apple.url("/emulator/native"))
            .json(&serde_json::json!({
                "client_id": IOS, "user": "alice", "nonce": "abc123", "consent": consent,
            }));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let first = native("hide").await;
    let id = claims(first["identity_token"].as_str().unwrap());
    assert_eq!(id["aud"], IOS);
    assert_eq!(id["nonce"], "abc123");
    assert_eq!(id["real_user_status"], 2);
    assert_eq!(id["is_private_email"], "true");
    assert!(id["c_hash"].is_string());
    assert_eq!(first["user"]["name"]["firstName"], "Alice");
    let second = native("share").await;
    assert!(second.get("user").is_none());
    let code = second["authorization_code"].as_str().unwrap();
    let reply = apple.exchange("/auth", IOS, code, None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let web_secret = apple.exchange("/auth", IOS, "c-none", None).await;
    web_secret.assert_error("invalid_grant");
}

#[tokio::test]
async fn both_api_families_speak_the_same_protocol() {
    let apple = Apple::start().await;
    let fields = apple
        .authorize(
            "/auth/oauth2/v2",
            &[
                ("client_id", WEB),
                ("redirect_uri", REDIRECT),
                ("response_type", "code"),
                ("response_mode", "form_post"),
                ("scope", "name"),
                ("emulator_user", "alice"),
            ],
        )
        .await;
    let reply = apple
        .exchange("/auth/oauth2/v2", WEB, &fields["code"], Some(REDIRECT))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let v2: Value = apple
        .http
        .get(apple.url("/auth/oauth2/v2/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let v1: Value = apple
        .http
        .get(apple.url("/auth/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v1, v2);
}

#[tokio::test]
async fn key_rotation_keeps_the_old_key_published() {
    let apple = Apple::start().await;
    let keys = |apple: &Apple| {
        let request = apple.http.get(apple.url("/auth/keys"));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let before = keys(&apple).await;
    let old = before["keys"][0].clone();
    assert_eq!(old["kty"], "RSA");
    assert_eq!(old["alg"], "RS256");
    assert_eq!(old["use"], "sig");
    assert_eq!(old["e"], "AQAB");
    assert_eq!(old["n"].as_str().unwrap().len(), 342, "2048-bit modulus");
    let rotated: Value = apple
        .http
        .post(apple.url("/emulator/rotate-keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let after = keys(&apple).await;
    assert_eq!(after["keys"].as_array().unwrap().len(), 2);
    assert_eq!(after["keys"][0]["kid"], rotated["kid"]);
    assert_eq!(after["keys"][1], old);
    let token = apple.web_sign_in("alice").await["id_token"].clone();
    assert_eq!(header(&token)["kid"], rotated["kid"]);
    for _ in 0..3 {
        apple
            .http
            .post(apple.url("/emulator/rotate-keys"))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        keys(&apple).await["keys"].as_array().unwrap().len(),
        3,
        "old keys are withdrawn after a while"
    );
}
