//! The service end to end, over HTTP, against the emulator: each test runs on
//! SQLite and (when configured) PostgreSQL.

use serde_json::{json, Value};

use crate::harness::{field, on_both_stores, sha256_hex, Backend, Browser, World};

on_both_stores!(
    web_first_sign_in_keeps_the_name_that_later_sign_ins_do_not_send,
    first_login_name_survives_a_failed_code_exchange,
    native_sign_in_refresh_rotation_reuse_detection_and_logout,
    notifications_update_revoke_and_erase,
    delete_me_revokes_at_apple_then_erases,
    delete_me_is_queued_while_apple_fails_and_completes_later,
    bad_input_is_refused_and_nothing_is_stored,
    two_replicas_on_one_database_are_one_service,
);

async fn web_first_sign_in_keeps_the_name_that_later_sign_ins_do_not_send(backend: Backend) {
    let world = World::start(backend).await;
    let server = world.server(0);
    let mut browser = Browser::new();
    let landing = browser.sign_in(&server, "alice").await;
    assert_eq!(landing.status, 303, "{landing:?}");
    assert_eq!(
        landing.location.as_deref(),
        Some(format!("{server}/").as_str())
    );
    let (status, me) = browser.me(&server).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["first_name"], "Alice");
    assert_eq!(me["last_name"], "Appleseed");
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["email_verified"], true);
    let id = me["id"].clone();

    // Apple sends `user` only the first time; the second sign-in must keep the name.
    let mut other_browser = Browser::new();
    let authorize = other_browser.start_sign_in(&server, "/").await;
    let fields = other_browser.consent(&authorize, "alice").await;
    assert!(
        field(&fields, "user").is_none(),
        "the emulator sends user once"
    );
    let landing = other_browser.form_post(&server, &fields).await;
    assert_eq!(landing.status, 303, "{landing:?}");
    let (_, again) = other_browser.me(&server).await;
    assert_eq!(again["id"], id);
    assert_eq!(again["first_name"], "Alice");
}

async fn first_login_name_survives_a_failed_code_exchange(backend: Backend) {
    let world = World::start(backend).await;
    let server = world.server(0);
    let mut browser = Browser::new();
    world
        .fault(json!({"route": "/auth/token", "status": 500}))
        .await;
    let failed = browser.sign_in(&server, "bob").await;
    assert_eq!(failed.status, 502, "{failed:?}");
    assert!(
        failed.body.contains("Apple did not confirm"),
        "{}",
        failed.body
    );
    let (status, _) = browser.me(&server).await;
    assert_eq!(status, 401, "no session after a failed exchange");

    let landing = browser.sign_in(&server, "bob").await;
    assert_eq!(landing.status, 303, "{landing:?}");
    let (_, me) = browser.me(&server).await;
    assert_eq!(
        me["first_name"], "Bob",
        "the name from the failed first sign-in was kept: {me}"
    );
}

async fn native_sign_in_refresh_rotation_reuse_detection_and_logout(backend: Backend) {
    let world = World::start(backend).await;
    let server = world.server(0);
    let raw_nonce = "raw-nonce-123";
    let credential = world
        .native_credential("alice", Some(&sha256_hex(raw_nonce)))
        .await;
    let body = json!({
        "identity_token": credential["identity_token"],
        "authorization_code": credential["authorization_code"],
        "user": credential["user"],
        "nonce": raw_nonce,
    });
    let response = world
        .http
        .post(format!("{server}/auth/apple/native"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["user"]["first_name"], "Alice");
    assert_eq!(tokens["user"]["real_user_status"], 2);
    let me = |token: String| {
        let request = world.http.get(format!("{server}/me")).bearer_auth(token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        me(tokens["access_token"].as_str().unwrap().to_owned()).await,
        200
    );

    let refresh = |token: &Value| {
        let request = world
            .http
            .post(format!("{server}/session/refresh"))
            .json(&json!({"refresh_token": token}));
        async move {
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, rotated) = refresh(&tokens["refresh_token"]).await;
    assert_eq!(status, 200, "{rotated}");
    assert_ne!(rotated["refresh_token"], tokens["refresh_token"]);
    // The spent token comes back: theft; the whole family is revoked.
    let (status, _) = refresh(&tokens["refresh_token"]).await;
    assert_eq!(status, 401);
    let (status, _) = refresh(&rotated["refresh_token"]).await;
    assert_eq!(status, 401, "the family is revoked");
    assert_eq!(
        me(rotated["access_token"].as_str().unwrap().to_owned()).await,
        401
    );

    // A new sign-in, then logout ends it.
    let credential = world
        .native_credential("alice", Some(&sha256_hex("second-nonce")))
        .await;
    let body = json!({"identity_token": credential["identity_token"], "authorization_code": credential["authorization_code"], "nonce": "second-nonce"});
    let tokens: Value = world
        .http
        .post(format!("{server}/auth/apple/native"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(me(access.clone()).await, 200);
    let out = world
        .http
        .post(format!("{server}/session/logout"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert_eq!(me(access).await, 401);
    let (status, _) = refresh(&tokens["refresh_token"]).await;
    assert_eq!(status, 401);

    // A wrong raw nonce is refused.
    let credential = world
        .native_credential("alice", Some(&sha256_hex("the-real-one")))
        .await;
    let body = json!({"identity_token": credential["identity_token"], "authorization_code": credential["authorization_code"], "nonce": "another"});
    let response = world
        .http
        .post(format!("{server}/auth/apple/native"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

async fn notify(world: &World, user: &str, kind: &str) -> Value {
    world
        .http
        .post(world.apple_url("/emulator/notify"))
        .json(&json!({"client_id": crate::harness::WEB, "user": user, "type": kind}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn notifications_update_revoke_and_erase(backend: Backend) {
    let world = World::start(backend).await;
    let server = world.server(0);
    let mut browser = Browser::new();
    assert_eq!(browser.sign_in(&server, "alice").await.status, 303);
    for kind in ["email-disabled", "email-enabled", "email-disabled"] {
        assert_eq!(notify(&world, "alice", kind).await["status"], 200, "{kind}");
    }
    let (status, me) = browser.me(&server).await;
    assert_eq!(status, 200);
    let id = me["id"].clone();

    assert_eq!(
        notify(&world, "alice", "consent-revoked").await["status"],
        200
    );
    assert_eq!(
        notify(&world, "alice", "consent-revoked").await["status"],
        200,
        "idempotent"
    );
    let (status, _) = browser.me(&server).await;
    assert_eq!(status, 401, "consent-revoked ends the sessions");

    assert_eq!(
        browser.sign_in(&server, "alice").await.status,
        303,
        "the user may sign in again"
    );
    let (_, again) = browser.me(&server).await;
    assert_eq!(again["id"], id);

    assert_eq!(
        notify(&world, "alice", "account-delete").await["status"],
        200
    );
    assert_eq!(
        notify(&world, "alice", "account-delete").await["status"],
        200,
        "idempotent"
    );
    let (status, _) = browser.me(&server).await;
    assert_eq!(status, 401);
    assert_eq!(browser.sign_in(&server, "alice").await.status, 303);
    let (_, fresh) = browser.me(&server).await;
    assert_ne!(fresh["id"], id, "account-delete erased the user");

    let forged = world
        .http
        .post(format!("{server}/auth/apple/notifications"))
        .json(&json!({"payload": "eyJhbGciOiJub25lIn0.e30."}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
}

async fn revocations(world: &World) -> Vec<Value> {
    let list: Value = world
        .http
        .get(world.apple_url("/emulator/revocations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["revocations"].as_array().unwrap().clone()
}

async fn delete_me_revokes_at_apple_then_erases(backend: Backend) {
    let world = World::start(backend).await;
    let server = world.server(0);
    let mut browser = Browser::new();
    assert_eq!(browser.sign_in(&server, "alice").await.status, 303);
    let session = browser.cookies.get("siwa_session").unwrap().clone();
    let response = world
        .http
        .delete(format!("{server}/me"))
        .header("cookie", format!("siwa_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let revoked = revocations(&world).await;
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(revoked[0]["user"], "alice");
    assert_eq!(revoked[0]["token_type"], "refresh_token");
    let (status, _) = browser.me(&server).await;
    assert_eq!(status, 401);
}

async fn delete_me_is_queued_while_apple_fails_and_completes_later(backend: Backend) {
    let world = World::start(backend).await;
    let server = world.server(0);
    let mut browser = Browser::new();
    assert_eq!(browser.sign_in(&server, "alice").await.status, 303);
    world
        .fault(json!({"route": "/auth/revoke", "status": 503, "count": 2}))
        .await;
    let session = browser.cookies.get("siwa_session").unwrap().clone();
    let response = world
        .http
        .delete(format!("{server}/me"))
        .header("cookie", format!("siwa_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(revocations(&world).await.is_empty());
    let (status, _) = browser.me(&server).await;
    assert_eq!(status, 401, "sessions end at once");
    let metrics = world
        .http
        .get(format!("{server}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("siwa_deletions_pending 1"), "{metrics}");

    // The worker retries (every second here, then backing off); the second retry passes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        world.clock.advance(10);
        siwa_server::deletion::run_due(&world.states[0])
            .await
            .unwrap();
        if !revocations(&world).await.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the queued deletion never completed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let metrics = world
        .http
        .get(format!("{server}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("siwa_deletions_pending 0"), "{metrics}");
    assert_eq!(browser.sign_in(&server, "alice").await.status, 303);
    let (_, me) = browser.me(&server).await;
    assert!(
        me["first_name"].is_null(),
        "the old account (and its name) is gone: {me}"
    );
}

async fn bad_input_is_refused_and_nothing_is_stored(backend: Backend) {
    let world = World::start(backend).await;
    let server = world.server(0);
    let count_users = || async {
        world
            .http
            .get(format!("{server}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = count_users().await;

    // A return_to on another origin: no open redirect.
    let mut browser = Browser::new();
    let evil = browser
        .get(&format!(
            "{server}/auth/apple/login?return_to=https%3A%2F%2Fevil.example%2F"
        ))
        .await;
    assert_eq!(evil.status(), 400);
    let evil = browser
        .get(&format!(
            "{server}/auth/apple/login?return_to=%2F%2Fevil.example"
        ))
        .await;
    assert_eq!(evil.status(), 400);

    // A forged state.
    let authorize = browser.start_sign_in(&server, "/").await;
    let mut fields = browser.consent(&authorize, "alice").await;
    let mut forged = fields.clone();
    for (k, v) in &mut forged {
        if k == "state" {
            *v = "forged".into();
        }
    }
    let landing = browser.form_post(&server, &forged).await;
    assert_eq!(landing.status, 400, "{landing:?}");

    // A tampered id_token (the real state is still unused).
    let mut tampered = fields.clone();
    for (k, v) in &mut tampered {
        if k == "id_token" {
            let mut parts: Vec<String> = v.split('.').map(str::to_owned).collect();
            parts[1] = parts[1].chars().rev().collect();
            *v = parts.join(".");
        }
    }
    let landing = browser.form_post(&server, &tampered).await;
    assert_eq!(landing.status, 400, "{landing:?}");
    // That attempt spent the state: replaying the genuine answer now fails too.
    let landing = browser.form_post(&server, &fields).await;
    assert_eq!(landing.status, 400, "{landing:?}");
    assert!(
        landing.body.contains("expired or was already used"),
        "{}",
        landing.body
    );

    // A missing id_token.
    let authorize = browser.start_sign_in(&server, "/").await;
    fields = browser.consent(&authorize, "alice").await;
    let without: Vec<(String, String)> = fields
        .iter()
        .filter(|(k, _)| k != "id_token")
        .cloned()
        .collect();
    assert_eq!(browser.form_post(&server, &without).await.status, 400);

    // A nonce mismatch: Apple's answer to another sign-in (its own state) replayed here.
    let mut other_browser = Browser::new();
    let other_authorize = other_browser.start_sign_in(&server, "/").await;
    let other_fields = other_browser.consent(&other_authorize, "alice").await;
    let authorize = browser.start_sign_in(&server, "/").await;
    let mine = browser.consent(&authorize, "alice").await;
    let mut swapped = mine.clone();
    for (k, v) in &mut swapped {
        if k == "id_token" {
            *v = field(&other_fields, "id_token").unwrap().to_owned();
        }
    }
    let landing = browser.form_post(&server, &swapped).await;
    assert_eq!(landing.status, 400, "{landing:?}");
    assert!(
        landing.body.contains("does not belong to this sign-in") && !landing.body.contains("nonce"),
        "a fixed phrase, not the verifier's detail: {}",
        landing.body
    );

    // State started in another browser.
    let landing = other_browser.form_post(&server, &mine).await;
    assert_eq!(landing.status, 400, "{landing:?}");

    // A 1 MB form: refused from its Content-Length, before the body is read.
    // (Raw TCP: an HTTP client still writing the body may see the early
    // answer as a reset connection, which would make the check flaky.)
    assert_eq!(
        oversized_post(&server, "/auth/apple/callback", 1024 * 1024).await,
        413
    );

    // Nothing was stored by any of it.
    let after = count_users().await;
    assert!(
        after.contains("siwa_sign_ins_total{flow=\"web\"} 0"),
        "{after}"
    );
    assert_eq!(
        before.contains("siwa_deletions_pending 0"),
        after.contains("siwa_deletions_pending 0")
    );
    let (status, _) = browser.me(&server).await;
    assert_eq!(status, 401);
}

async fn two_replicas_on_one_database_are_one_service(backend: Backend) {
    if matches!(backend, Backend::Sqlite) {
        return; // Replicas share a PostgreSQL database; SQLite is one process.
    }
    let world = World::start_replicas(backend, 2).await;
    let (a, b) = (world.server(0), world.server(1));
    let mut browser = Browser::new();
    let authorize = browser.start_sign_in(&a, "/").await;
    let fields = browser.consent(&authorize, "alice").await;
    let landing = browser.form_post(&b, &fields).await;
    assert_eq!(
        landing.status, 303,
        "started on A, finished on B: {landing:?}"
    );
    let (status, me) = browser.me(&a).await;
    assert_eq!(status, 200);
    assert_eq!(me["first_name"], "Alice");
    let (status, _) = browser.me(&b).await;
    assert_eq!(status, 200);
}

/// Sends a POST announcing `len` bytes, writing them while reading the
/// answer; its status code (the server answers once it has read past its limit).
async fn oversized_post(server: &str, path: &str, len: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {len}\r\n\r\nstate="
    );
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b'a'; 16 * 1024];
        for _ in 0..len / chunk.len() {
            writer.write_all(&chunk).await?;
        }
        std::io::Result::Ok(())
    });
    let mut answer = vec![0u8; 64];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), reader.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    writing.abort();
    let text = String::from_utf8_lossy(&answer[..n]).into_owned();
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {text:?}"))
}
