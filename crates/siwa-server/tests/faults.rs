//! Apple on its worst day, through the emulator's fault injection: keys down,
//! slow, garbage or empty during a rotation; the token endpoint failing,
//! stalling or hanging up. The service keeps verifying on cached keys for the
//! grace period, answers clearly, opens no session, and loses no name.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{on_both_stores, Backend, Service, World};

on_both_stores!(
    keys_down_cached_keys_verify_for_the_grace_period_then_fail_clearly,
    keys_slow_beyond_the_timeout_fail_fast,
    garbage_or_empty_key_sets_during_a_rotation_do_not_break_verification,
    token_endpoint_failures_are_clear_errors_and_open_no_session,
    sign_in_routes_are_rate_limited_and_headers_bounded,
);

/// The grace period of the key cache (siwa_kit::jwks::DEFAULT_STALE_GRACE_SECS) and its TTL.
const TTL: u64 = 3_600;
const GRACE: u64 = 6 * 3_600;

async fn keys_down_cached_keys_verify_for_the_grace_period_then_fail_clearly(backend: Backend) {
    let world = World::start(backend).await;
    let (status, first) = world.native_sign_in(0, "alice").await;
    assert_eq!(status, 200, "{first}");
    let fetched = world.apple_requests("/auth/keys").await;
    world
        .fault(json!({"route": "/auth/keys", "status": 503, "count": 1000}))
        .await;

    world.clock.advance(TTL + 60);
    let (status, body) = world.native_sign_in(0, "alice").await;
    assert_eq!(
        status, 200,
        "stale keys still verify within the grace period: {body}"
    );
    assert!(
        world.apple_requests("/auth/keys").await > fetched,
        "the stale set was refetched (and failed)"
    );

    world.clock.advance(GRACE);
    let (status, body) = world.native_sign_in(0, "alice").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "apple_unavailable");

    let _ = world
        .http
        .delete(world.apple_url("/emulator/faults"))
        .send()
        .await
        .unwrap();
    world.clock.advance(60);
    let (status, body) = world.native_sign_in(0, "alice").await;
    assert_eq!(status, 200, "back to normal once Apple answers: {body}");
    assert_eq!(
        body["user"]["first_name"], "Alice",
        "the name from the first sign-in is intact"
    );
}

async fn keys_slow_beyond_the_timeout_fail_fast(backend: Backend) {
    let world = World::start(backend).await;
    assert_eq!(world.native_sign_in(0, "alice").await.0, 200);
    // A rotation: the next token has a kid the cache has not seen; Apple's keys stall.
    world
        .http
        .post(world.apple_url("/emulator/rotate-keys"))
        .send()
        .await
        .unwrap();
    world
        .fault(json!({"route": "/auth/keys", "delay_ms": 8000, "count": 5}))
        .await;
    world.clock.advance(31); // past the refetch interval, so the unknown kid triggers a fetch
    let started = Instant::now();
    let (status, body) = world.native_sign_in(0, "alice").await;
    let took = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(
        took < Duration::from_secs(7),
        "bounded by the 2 s Apple timeout, took {took:?}"
    );
}

async fn garbage_or_empty_key_sets_during_a_rotation_do_not_break_verification(backend: Backend) {
    let world = World::start(backend).await;
    assert_eq!(world.native_sign_in(0, "alice").await.0, 200);
    world
        .http
        .post(world.apple_url("/emulator/rotate-keys"))
        .send()
        .await
        .unwrap();

    world
        .fault(json!({"route": "/auth/keys", "body": "<html>garbage</html>"}))
        .await;
    let (status, body) = world.native_sign_in(0, "alice").await;
    assert!(
        status == 503 || status == 401,
        "a clear refusal, not a crash: {status} {body}"
    );

    world.clock.advance(31);
    world
        .fault(json!({"route": "/auth/keys", "body": "{\"keys\":[]}"}))
        .await;
    let (status, body) = world.native_sign_in(0, "alice").await;
    assert!(status == 503 || status == 401, "{status} {body}");

    world.clock.advance(31);
    let (status, body) = world.native_sign_in(0, "alice").await;
    assert_eq!(
        status, 200,
        "the rotation is picked up once Apple answers properly: {body}"
    );
}

async fn token_endpoint_failures_are_clear_errors_and_open_no_session(backend: Backend) {
    let world = World::start(backend).await;
    let faults = [
        json!({"route": "/auth/token", "status": 500}),
        json!({"route": "/auth/token", "delay_ms": 4000}),
        json!({"route": "/auth/token", "close": true}),
    ];
    let mut first_user = None;
    for fault in faults {
        world.fault(fault.clone()).await;
        let credential = world
            .native_credential("bob", Some(&crate::harness::sha256_hex("faults-nonce")))
            .await;
        if first_user.is_none() {
            first_user = Some(credential["user"].clone());
        }
        let body = json!({
            "identity_token": credential["identity_token"],
            "authorization_code": credential["authorization_code"],
            "user": first_user.clone().unwrap(),
            "nonce": "faults-nonce",
        });
        let started = Instant::now();
        let response = world
            .http
            .post(format!("{}/auth/apple/native", world.server(0)))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 502, "{fault}");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["error"], "apple_unavailable", "{fault}");
        assert!(answer.get("access_token").is_none());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{fault}: bounded"
        );
    }
    // Apple sent the name only on the first attempt; it was kept.
    let (status, body) = world.native_sign_in(0, "bob").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["first_name"], "Bob");
}

async fn sign_in_routes_are_rate_limited_and_headers_bounded(backend: Backend) {
    let service = Service::start(backend, |raw| {
        raw.rate_limit_per_ip_per_minute = Some(60);
        raw.rate_limit_burst = Some(3);
    })
    .await;
    let login = "/auth/apple/login?return_to=/";
    for _ in 0..3 {
        assert_eq!(service.get(login).await.status(), 302);
    }
    let limited = service.get(login).await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    let native = service.post_json("/auth/apple/native", &json!({})).await;
    assert_eq!(
        native.status(),
        429,
        "the native route shares the per-IP budget"
    );
    assert_eq!(
        service.get("/healthz").await.status(),
        200,
        "other routes are not limited"
    );

    let big = "x".repeat(20 * 1024);
    let response = service
        .send(
            http::Request::get("/me")
                .header("x-padding", big)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), 431);
}
