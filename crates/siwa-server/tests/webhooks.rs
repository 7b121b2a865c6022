//! Account events to the application (outbound webhooks) and the daily
//! check with Apple, end to end: the emulator as Apple, the service, and a
//! receiver that checks each delivery's Standard Webhooks signature with its
//! own HMAC (not the service's code).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::hmac;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use serde_json::{json, Value};
use siwa_server::config::RawWebhook;
use siwa_server::store::{EventFilter, EventState};

use crate::harness::{on_both_stores, Backend, World, IOS};

/// The receiver's secret, in the Standard Webhooks form.
const SECRET: &str = "whsec_c2l3YS1raXQtd2ViaG9vay10ZXN0LXNlY3JldA==";

on_both_stores!(
    a_users_life_reaches_the_app_in_order_and_signed,
    a_receiver_down_for_a_while_gets_everything_once_back,
    the_daily_check_catches_a_revocation_no_notification_announced,
    an_endpoint_gets_only_the_types_it_takes,
);

/// One delivery as the receiver saw it.
#[derive(Clone, Debug)]
struct Delivery {
    id: String,
    body: Value,
}

/// A webhook receiver on loopback: verifies each signature, answers 503 to
/// the first `refuse` deliveries, keeps what it accepted.
#[derive(Clone, Default)]
struct Receiver {
    accepted: Arc<Mutex<Vec<Delivery>>>,
    refuse: Arc<Mutex<u32>>,
    bad_signatures: Arc<Mutex<u32>>,
}

impl Receiver {
    async fn start() -> (Self, String) {
        let receiver = Self::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    fn accepted(&self) -> Vec<Delivery> {
        self.accepted.lock().unwrap().clone()
    }

    /// The types accepted, in order, without repeats of an id (at least once).
    fn types(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.accepted()
            .into_iter()
            .filter(|d| seen.insert(d.id.clone()))
            .map(|d| d.body["type"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn wait_for(&self, count: usize) {
        for _ in 0..300 {
            if self.types().len() >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("waited for {count} events; got {:?}", self.types());
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let secret = base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap();
    let key = hmac::Key::new(hmac::HMAC_SHA256, &secret);
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(&body);
    let expected =
        base64::engine::general_purpose::STANDARD.encode(hmac::sign(&key, &signed).as_ref());
    if signature != format!("v1,{expected}") {
        *receiver.bad_signatures.lock().unwrap() += 1;
        return StatusCode::UNAUTHORIZED;
    }
    {
        let mut refuse = receiver.refuse.lock().unwrap();
        if *refuse > 0 {
            *refuse -= 1;
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    receiver.accepted.lock().unwrap().push(Delivery {
        id,
        body: serde_json::from_slice(&body).unwrap(),
    });
    StatusCode::NO_CONTENT
}

/// The delivery log once its `count` events are delivered: the service marks
/// one delivered just after the receiver kept it (when the 2xx comes back).
async fn delivered_log(world: &World, count: usize) -> Vec<siwa_server::store::OutboxEvent> {
    let mut log = Vec::new();
    for _ in 0..100 {
        log = world.stores[0]
            .list_events(&EventFilter {
                limit: 50,
                ..EventFilter::default()
            })
            .await
            .unwrap();
        if log.len() >= count && log.iter().all(|e| e.state == EventState::Delivered) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not all {count} events delivered in the log: {log:?}");
}

fn webhook(url: &str, events: Option<&[&str]>) -> RawWebhook {
    RawWebhook {
        url: Some(url.to_owned()),
        secret: Some(SECRET.into()),
        events: events.map(|e| e.iter().map(|s| (*s).to_owned()).collect()),
    }
}

async fn notify(world: &World, kind: &str) {
    let response = world
        .http
        .post(world.apple_url("/emulator/notify"))
        .json(&json!({"client_id": IOS, "user": "alice", "type": kind}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{kind}");
}

async fn a_users_life_reaches_the_app_in_order_and_signed(backend: Backend) {
    let (receiver, url) = Receiver::start().await;
    let world = World::start_with(backend, 1, |raw| {
        raw.webhook = Some(vec![webhook(&url, None)])
    })
    .await;
    let (status, session) = world.native_sign_in(0, "alice").await;
    assert_eq!(status, 200, "{session}");
    receiver.wait_for(2).await;
    // A second sign-in with a refresh-token reuse: the session is revoked.
    let refresh = session["refresh_token"].as_str().unwrap();
    for _ in 0..2 {
        world
            .http
            .post(format!("{}/session/refresh", world.server(0)))
            .json(&json!({"refresh_token": refresh}))
            .send()
            .await
            .unwrap();
    }
    receiver.wait_for(3).await;
    notify(&world, "email-disabled").await;
    receiver.wait_for(4).await;
    notify(&world, "consent-revoked").await;
    receiver.wait_for(5).await;
    notify(&world, "account-delete").await;
    receiver.wait_for(6).await;
    assert_eq!(
        receiver.types(),
        [
            "user.created",
            "user.signed_in",
            "session.revoked",
            "user.email_forwarding_changed",
            "user.consent_revoked",
            "user.deleted"
        ]
    );
    let accepted = receiver.accepted();
    let user_id = session["user"]["id"].as_str().unwrap();
    for delivery in &accepted {
        assert_eq!(delivery.body["data"]["id"], user_id, "{:?}", delivery.body);
        assert!(delivery.id.starts_with("msg_"));
        assert!(delivery.body["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(
        accepted[0].body["data"]["user"]["first_name"],
        session["user"]["first_name"]
    );
    assert_eq!(accepted[3].body["data"]["email_forwarding"], false);
    assert_eq!(accepted[4].body["data"]["source"], "apple_notification");
    assert!(
        accepted[5].body["data"].get("user").is_none(),
        "the erased user is gone"
    );
    assert_eq!(*receiver.bad_signatures.lock().unwrap(), 0);
    // The delivery log says the same.
    let log = delivered_log(&world, 6).await;
    assert_eq!(log.len(), 6);
}

async fn a_receiver_down_for_a_while_gets_everything_once_back(backend: Backend) {
    let (receiver, url) = Receiver::start().await;
    *receiver.refuse.lock().unwrap() = 3;
    let world = World::start_with(backend, 1, |raw| {
        raw.webhook = Some(vec![webhook(&url, None)]);
        raw.webhook_retry_secs = Some(1);
    })
    .await;
    assert_eq!(world.native_sign_in(0, "alice").await.0, 200);
    assert_eq!(world.native_sign_in(0, "bob").await.0, 200);
    // The receiver refused the first attempts; the retries come due as the clock moves.
    for _ in 0..40 {
        if receiver.types().len() >= 4 {
            break;
        }
        world.clock.advance(5);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let accepted = receiver.accepted();
    let ids: std::collections::HashSet<&str> = accepted.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids.len(), 4, "every event delivered: {accepted:?}");
    assert_eq!(
        accepted.len(),
        4,
        "none twice (the receiver never took one it then lost)"
    );
    // In order per user: created before signed_in, for each.
    for user in ["created", "signed_in"] {
        assert!(accepted
            .iter()
            .any(|d| d.body["type"] == format!("user.{user}")));
    }
    for delivery in &accepted {
        let uid = &delivery.body["data"]["id"];
        let of_user: Vec<&str> = accepted
            .iter()
            .filter(|d| &d.body["data"]["id"] == uid)
            .map(|d| d.body["type"].as_str().unwrap())
            .collect();
        assert_eq!(of_user, ["user.created", "user.signed_in"]);
    }
    let log = delivered_log(&world, 4).await;
    let attempts = log.iter().map(|e| e.attempts).sum::<i64>();
    assert_eq!(
        attempts,
        3 + 4,
        "three refused attempts and four deliveries are counted"
    );
}

async fn the_daily_check_catches_a_revocation_no_notification_announced(backend: Backend) {
    let (receiver, url) = Receiver::start().await;
    let world = World::start_with(backend, 1, |raw| {
        raw.webhook = Some(vec![webhook(&url, Some(&["user.consent_revoked"]))]);
        raw.reconcile_interval = Some(60);
        raw.reconcile_per_second = Some(50);
    })
    .await;
    let (status, session) = world.native_sign_in(0, "alice").await;
    assert_eq!(status, 200);
    let access = session["access_token"].as_str().unwrap().to_owned();
    let me = || async {
        world
            .http
            .get(format!("{}/me", world.server(0)))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .status()
    };
    // A check while the user still authorizes the app changes nothing.
    world.clock.advance(61);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(me().await, 200, "an authorized user keeps their session");
    assert!(
        world.apple_requests("/auth/token").await >= 2,
        "the token was checked at Apple"
    );
    // The user revokes at Apple, whose notification never arrives.
    world
        .fault(json!({"route": "notifications", "drop": true, "count": 5}))
        .await;
    notify(&world, "consent-revoked").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(me().await, 200, "no notification came");
    world.clock.advance(61);
    receiver.wait_for(1).await;
    assert_eq!(me().await, 401, "the daily check ended the session");
    let event = &receiver.accepted()[0].body;
    assert_eq!(event["type"], "user.consent_revoked");
    assert_eq!(event["data"]["source"], "daily_check");
    assert_eq!(event["data"]["id"], session["user"]["id"]);
}

async fn an_endpoint_gets_only_the_types_it_takes(backend: Backend) {
    let (all, all_url) = Receiver::start().await;
    let (deletions, deletions_url) = Receiver::start().await;
    let world = World::start_with(backend, 1, |raw| {
        raw.webhook = Some(vec![
            webhook(&all_url, None),
            webhook(&deletions_url, Some(&["user.deleted"])),
        ]);
    })
    .await;
    assert_eq!(world.native_sign_in(0, "alice").await.0, 200);
    notify(&world, "account-delete").await;
    all.wait_for(3).await;
    deletions.wait_for(1).await;
    assert_eq!(
        all.types(),
        ["user.created", "user.signed_in", "user.deleted"]
    );
    assert_eq!(deletions.types(), ["user.deleted"]);
}

/// Two replicas on one PostgreSQL database share the outbox: every event
/// reaches the receiver once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_each_event_once() {
    if crate::harness::postgres_url().is_none() {
        eprintln!("skipping: SIWA_TEST_DATABASE_URL is not set");
        return;
    }
    let (receiver, url) = Receiver::start().await;
    let world = World::start_with(Backend::Postgres, 2, |raw| {
        raw.webhook = Some(vec![webhook(&url, None)]);
    })
    .await;
    for round in 0..4 {
        for (i, user) in ["alice", "bob"].iter().enumerate() {
            assert_eq!(world.native_sign_in((i + round) % 2, user).await.0, 200);
        }
    }
    // 2 created + 8 signed_in.
    receiver.wait_for(10).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let accepted = receiver.accepted();
    let ids: std::collections::HashSet<&str> = accepted.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        accepted.len(),
        10,
        "each event delivered once: {:?}",
        receiver.types()
    );
    assert_eq!(ids.len(), 10);
}
