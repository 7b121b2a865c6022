//! The `/emulator/` routes: notifications, faults, and a restart with `--state`.

use std::sync::{Arc, Mutex};

use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

use crate::support::{claims, Apple, REDIRECT, WEB};

/// A receiver for notifications on a free port; what it got.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&got);
    let app = Router::new().route(
        "/notify",
        post(move |Json(body): Json<Value>| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/notify", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

#[tokio::test]
async fn notify_sends_a_signed_event_whose_events_claim_is_a_json_string() {
    let (url, got) = receiver().await;
    let apple = Apple::start_with(Some(&url), None).await;
    let first = apple.web_sign_in("alice").await;
    let sub = claims(&first["id_token"])["sub"].clone();
    for kind in [
        "email-disabled",
        "email-enabled",
        "consent-revoked",
        "account-delete",
    ] {
        let reply: Value = apple
            .http
            .post(apple.url("/emulator/notify"))
            .json(&serde_json::json!({"client_id": WEB, "user": "alice", "type": kind}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(reply["status"], 200, "{kind}: {reply}");
    }
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 4);
    let jwt = got[0]["payload"].as_str().unwrap();
    let body = claims(jwt);
    assert_eq!(body["aud"], WEB);
    assert!(body["jti"].is_string());
    let events: Value = serde_json::from_str(body["events"].as_str().unwrap()).unwrap();
    assert_eq!(events["type"], "email-disabled");
    assert_eq!(events["sub"], sub);
    assert_eq!(events["is_private_email"], "true");
    assert!(
        events["event_time"].as_u64().unwrap() > 1_000_000_000_000,
        "milliseconds"
    );
    let revoked: Value = serde_json::from_str(
        claims(got[2]["payload"].as_str().unwrap())["events"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(revoked.get("email").is_none());
    // After consent-revoked the user authorizes anew: `user` is sent again.
    assert!(apple.web_sign_in("alice").await.contains_key("user"));

    let bad = apple
        .http
        .post(apple.url("/emulator/notify"))
        .json(&serde_json::json!({"client_id": WEB, "user": "alice", "type": "password-changed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn faults_fail_or_stall_the_next_calls_of_a_route() {
    let apple = Apple::start().await;
    let fault = |body: Value| {
        let request = apple.http.post(apple.url("/emulator/faults")).json(&body);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(
        fault(serde_json::json!({"route": "/auth/token", "status": 500, "count": 2})).await,
        200
    );
    let code = apple.web_sign_in("alice").await["code"].clone();
    assert_eq!(
        apple
            .exchange("/auth", WEB, &code, Some(REDIRECT))
            .await
            .status,
        500
    );
    assert_eq!(
        apple
            .exchange("/auth/oauth2/v2", WEB, &code, Some(REDIRECT))
            .await
            .status,
        500
    );
    assert_eq!(
        apple
            .exchange("/auth", WEB, &code, Some(REDIRECT))
            .await
            .status,
        200,
        "the fault ran out"
    );

    assert_eq!(
        fault(serde_json::json!({"route": "/auth/keys", "body": "garbage"})).await,
        200
    );
    let text = apple
        .http
        .get(apple.url("/auth/keys"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "garbage");

    assert_eq!(
        fault(serde_json::json!({"route": "/auth/keys", "delay_ms": 300})).await,
        200
    );
    let started = std::time::Instant::now();
    let slow = apple
        .http
        .get(apple.url("/auth/keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(slow.status(), 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));

    assert_eq!(
        fault(serde_json::json!({"route": "/auth/token"})).await,
        400,
        "a fault must do something"
    );
    assert_eq!(
        fault(serde_json::json!({"route": "/auth/token", "delay_ms": 999_999})).await,
        400
    );
}

#[tokio::test]
async fn state_file_keeps_authorizations_and_refresh_tokens_across_a_restart() {
    let dir = std::env::temp_dir().join(format!("siwa-emulator-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("state.json");
    let _ = std::fs::remove_file(&file);
    let refresh = {
        let apple = Apple::start_with(None, Some(file.clone())).await;
        let code = apple.web_sign_in("alice").await["code"].clone();
        let tokens = apple
            .exchange("/auth", WEB, &code, Some(REDIRECT))
            .await
            .json();
        apple.running.stop().await;
        tokens["refresh_token"].as_str().unwrap().to_owned()
    };
    let apple = Apple::start_with(None, Some(file.clone())).await;
    let secret = apple.secret(WEB);
    let reply = apple
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
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        !apple.web_sign_in("alice").await.contains_key("user"),
        "alice already authorized before the restart"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
