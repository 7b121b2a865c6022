//! Regression tests of the outside security review (issue 11), one or more
//! per finding, named after what they show. Each runs on SQLite and (when
//! configured) PostgreSQL where the store is involved.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};
use siwa_server::store::{
    AppleLink, AppleToken, DeletionJob, EventFilter, EventState, ExportedIdentity, Grant, Login,
    Name, NewLogin, NewOidcCode, NewSession, Notification, OidcCode, OutboxEvent, Redemption,
    Relink, Rotate, Rotation, Schema, SignIn, SignInOutcome, Store, StoreError, StoreResult,
    TransferProgress, User,
};

use crate::harness::{on_both_stores, sha256_hex, Backend, Browser, Service, World, IOS};

on_both_stores!(
    rate_limits_are_per_client_address,
    native_route_refuses_web_flow_identity_tokens,
    a_bogus_code_writes_nothing_about_the_account,
    a_stored_name_is_never_overwritten,
    the_email_comes_from_the_verified_token_only,
    a_native_first_login_name_survives_a_failed_exchange,
    native_nonce_is_required_by_default,
    issued_nonces_are_single_use,
    an_identity_token_opens_at_most_one_session,
    a_failed_notification_effect_is_applied_on_retry,
    https_deployments_use_host_prefixed_cookies,
    errors_carry_a_request_id_and_no_verification_detail,
    sessions_have_an_absolute_lifetime,
    refresh_is_rate_limited,
    concurrent_refreshes_within_the_grace_get_the_same_successor,
    deletion_revokes_every_apple_token_of_the_user,
);

/// A client whose connections come from `source` (an address of 127.0.0.0/8).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The payload of a JWT, decoded without checking anything (test inspection only).
fn jwt_payload(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A native sign-in the way an app does it now: the raw nonce hashed into Apple's request.
async fn native_body(world: &World, user: &str) -> Value {
    let raw = format!("raw-{user}-{}", world.clock_secs());
    let credential = world.native_credential(user, Some(&sha256_hex(&raw))).await;
    let mut body = json!({
        "identity_token": credential["identity_token"],
        "authorization_code": credential["authorization_code"],
        "nonce": raw,
    });
    if !credential["user"].is_null() {
        body["user"] = credential["user"].clone();
    }
    body
}

async fn post_native(world: &World, body: &Value) -> (u16, Value) {
    let response = world
        .http
        .post(format!("{}/auth/apple/native", world.server(0)))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn me_with(world: &World, access_token: &str) -> (u16, Value) {
    let response = world
        .http
        .get(format!("{}/me", world.server(0)))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn refresh(world: &World, client: &reqwest::Client, token: &Value) -> (u16, Value) {
    let response = client
        .post(format!("{}/session/refresh", world.server(0)))
        .json(&json!({ "refresh_token": token }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

// Finding 1: every client shared one rate-limit bucket.
async fn rate_limits_are_per_client_address(backend: Backend) {
    let world = World::start_with(backend, 1, |raw| {
        raw.rate_limit_per_ip_per_minute = Some(1);
        raw.rate_limit_burst = Some(3);
        raw.rate_limit_global_per_second = Some(1000);
    })
    .await;
    let login = format!("{}/auth/apple/login", world.server(0));
    let (one, two) = (client_from("127.0.0.1"), client_from("127.0.0.2"));
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(two.get(&login).send().await.unwrap().status().as_u16());
    }
    assert_eq!(
        statuses,
        [302, 302, 302, 429, 429],
        "127.0.0.2's own bucket"
    );
    // A spoofed X-Forwarded-For does not escape the bucket (no proxy is trusted).
    let spoofed = two
        .get(&login)
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), 429);
    // Another address is still served.
    assert_eq!(one.get(&login).send().await.unwrap().status(), 302);

    // Behind one trusted proxy (here 127.0.0.2), the client is the address
    // the proxy appended: the right-most entry, never what the client wrote.
    let proxied = World::start_with(backend, 1, |raw| {
        raw.rate_limit_per_ip_per_minute = Some(1);
        raw.rate_limit_burst = Some(2);
        raw.trusted_proxies = Some(siwa_server::config::TrustedProxiesSetting::Hops(1));
    })
    .await;
    let login = format!("{}/auth/apple/login", proxied.server(0));
    let mut statuses = Vec::new();
    for spoof in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        let response = two
            .get(&login)
            .header("x-forwarded-for", format!("{spoof}, 198.51.100.7"))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(
        statuses,
        [302, 302, 429],
        "the spoofed left-most entries share one client"
    );
    let other_client = two
        .get(&login)
        .header("x-forwarded-for", "198.51.100.8")
        .send()
        .await
        .unwrap();
    assert_eq!(
        other_client.status(),
        302,
        "another client behind the proxy"
    );
}

// Finding 2: the native route accepted identity tokens minted for the web flow.
async fn native_route_refuses_web_flow_identity_tokens(backend: Backend) {
    // With the nonce optional (old apps), only the audience tells the flows apart.
    let world =
        World::start_with(backend, 1, |raw| raw.native_nonce = Some("optional".into())).await;
    let mut browser = Browser::new();
    let authorize = browser.start_sign_in(&world.server(0), "/").await;
    let fields = browser.consent(&authorize, "alice").await;
    let id_token = crate::harness::field(&fields, "id_token").unwrap();
    let code = crate::harness::field(&fields, "code").unwrap();
    assert_eq!(jwt_payload(id_token)["aud"], crate::harness::WEB);
    let (status, body) = post_native(
        &world,
        &json!({"identity_token": id_token, "authorization_code": code}),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        world.apple_requests("/auth/token").await,
        0,
        "no exchange tried"
    );
}

// Finding 3: a bogus code with a `user` of the caller's choosing changed the account.
async fn a_bogus_code_writes_nothing_about_the_account(backend: Backend) {
    let world = World::start(backend).await;
    let (status, first) = post_native(&world, &native_body(&world, "alice").await).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["user"]["first_name"], "Alice");
    let notify = world
        .http
        .post(world.apple_url("/emulator/notify"))
        .json(&json!({"client_id": IOS, "user": "alice", "type": "consent-revoked"}))
        .send()
        .await
        .unwrap();
    assert_eq!(notify.status(), 200);

    // Someone holding alice's next identity token, with a code of their own making.
    let mut forged = native_body(&world, "alice").await;
    let sub = jwt_payload(forged["identity_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked_before = world.link_revoked(crate::harness::TEAM, &sub).await;
    assert_eq!(revoked_before, Some(true));
    forged["authorization_code"] = "c0ffee.0.bogus.AAAAAAAAAAAAAAAAAAAAAA".into();
    forged["user"] = json!({"name": {"firstName": "Mallory", "lastName": "Evil"}, "email": "mallory@evil.example"});
    let (status, body) = post_native(&world, &forged).await;
    assert!(status >= 400, "{status} {body}");
    assert_eq!(
        world.link_revoked(crate::harness::TEAM, &sub).await,
        Some(true),
        "the revoked mark stays until a sign-in completes"
    );
    // Alice signs in for real: her name and email are hers.
    let (status, again) = post_native(&world, &native_body(&world, "alice").await).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["user"]["first_name"], "Alice", "{again}");
    assert_eq!(again["user"]["last_name"], "Appleseed");
    assert_eq!(again["user"]["email"], "alice@example.com");
    assert_eq!(again["user"]["id"], first["user"]["id"]);
}

// Finding 3: first write wins; a later `user` never overwrites a stored name.
async fn a_stored_name_is_never_overwritten(backend: Backend) {
    let world = World::start(backend).await;
    let (status, first) = post_native(&world, &native_body(&world, "bob").await).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["user"]["first_name"], "Bob");
    let mut later = native_body(&world, "bob").await;
    later["user"] = json!({"name": {"firstName": "Robert", "lastName": "Other"}});
    let (status, again) = post_native(&world, &later).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["user"]["first_name"], "Bob", "{again}");
    assert_eq!(again["user"]["last_name"], "Builder", "{again}");
}

// Finding 3: the email comes from the verified token only, never from `user`.
async fn the_email_comes_from_the_verified_token_only(backend: Backend) {
    let world = World::start(backend).await;
    // An app that asked Apple for the name only: its token has no email.
    let raw = "raw-name-only";
    let credential: Value = world
        .http
        .post(world.apple_url("/emulator/native"))
        .json(&json!({"client_id": IOS, "user": "bob", "nonce": sha256_hex(raw), "scope": "name"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(jwt_payload(credential["identity_token"].as_str().unwrap())["email"].is_null());
    let body = json!({
        "identity_token": credential["identity_token"],
        "authorization_code": credential["authorization_code"],
        "nonce": raw,
        "user": {"name": {"firstName": "Bob", "lastName": "Builder"}, "email": "mallory@evil.example"},
    });
    let (status, signed_in) = post_native(&world, &body).await;
    assert_eq!(status, 200, "{signed_in}");
    assert_eq!(signed_in["user"]["first_name"], "Bob");
    assert!(
        signed_in["user"]["email"].is_null(),
        "the unsigned email is not stored: {signed_in}"
    );
}

// Finding 3: the pending name is kept when the exchange fails (Apple sends it once).
async fn a_native_first_login_name_survives_a_failed_exchange(backend: Backend) {
    let world = World::start(backend).await;
    world
        .fault(json!({"route": "/auth/token", "status": 500}))
        .await;
    let first = native_body(&world, "bob").await;
    assert!(
        first["user"].is_object(),
        "Apple sends the name the first time"
    );
    let (status, body) = post_native(&world, &first).await;
    assert_eq!(status, 502, "{body}");
    let again = native_body(&world, "bob").await;
    assert!(again["user"].is_null(), "and never again");
    let (status, body) = post_native(&world, &again).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["first_name"], "Bob", "{body}");
    assert_eq!(body["user"]["last_name"], "Builder");
}

// Finding 4: the native nonce was optional.
async fn native_nonce_is_required_by_default(backend: Backend) {
    let world = World::start(backend).await;
    let credential = world.native_credential("alice", None).await;
    let (status, body) = post_native(
        &world,
        &json!({
            "identity_token": credential["identity_token"],
            "authorization_code": credential["authorization_code"],
        }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "nonce_required", "{body}");
    assert_eq!(world.apple_requests("/auth/token").await, 0);
}

// Finding 4: with native_nonce = "issued", only this service's nonces, each once.
async fn issued_nonces_are_single_use(backend: Backend) {
    let world = World::start_with(backend, 1, |raw| raw.native_nonce = Some("issued".into())).await;
    let world = &world;
    let issue = || async {
        let response = world
            .http
            .post(format!("{}/auth/apple/nonce", world.server(0)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["expires_in"], 300);
        body["nonce"].as_str().unwrap().to_owned()
    };
    let sign_in_with = |nonce: String| async move {
        let credential = world
            .native_credential("alice", Some(&sha256_hex(&nonce)))
            .await;
        post_native(
            world,
            &json!({
                "identity_token": credential["identity_token"],
                "authorization_code": credential["authorization_code"],
                "nonce": nonce,
            }),
        )
        .await
    };
    let nonce = issue().await;
    let (status, body) = sign_in_with(nonce.clone()).await;
    assert_eq!(status, 200, "{body}");
    // The same nonce in a fresh Apple request: used already.
    let (status, body) = sign_in_with(nonce).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_nonce");
    // A nonce the app made up itself.
    let (status, body) = sign_in_with("made-up-by-the-app".into()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_nonce"))
    );
    // An issued nonce past its 5 minutes.
    let late = issue().await;
    world.clock.advance(301);
    let (status, body) = sign_in_with(late).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_nonce"))
    );
    // The nonce route is a sign-in route: rate limited like the others.
    assert_eq!(
        world.apple_requests("/auth/token").await,
        1,
        "no exchange for refused nonces"
    );
}

// Finding 4: an identity token opens at most one session.
async fn an_identity_token_opens_at_most_one_session(backend: Backend) {
    let world = World::start(backend).await;
    let first = native_body(&world, "alice").await;
    let (status, body) = post_native(&world, &first).await;
    assert_eq!(status, 200, "{body}");
    // The same identity token again, with a genuine fresh code of the same user.
    let other = native_body(&world, "alice").await;
    let replay = json!({
        "identity_token": first["identity_token"],
        "authorization_code": other["authorization_code"],
        "nonce": first["nonce"],
    });
    let (status, body) = post_native(&world, &replay).await;
    assert_eq!(status, 401, "{body}");
}

// Finding 5: a failed notification was recorded as applied.
async fn a_failed_notification_effect_is_applied_on_retry(backend: Backend) {
    let failures = Arc::new(AtomicU32::new(1));
    let world = World::start_wrapped(
        backend,
        1,
        |_| {},
        |store| {
            Arc::new(FailingNotifications {
                inner: store,
                failures: Arc::clone(&failures),
            })
        },
    )
    .await;
    let (status, tokens) = post_native(&world, &native_body(&world, "alice").await).await;
    assert_eq!(status, 200, "{tokens}");
    let delivered: Value = world
        .http
        .post(world.apple_url("/emulator/notify"))
        .json(&json!({"client_id": IOS, "user": "alice", "type": "consent-revoked", "retries": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        delivered["attempts"],
        json!([500, 200]),
        "the first delivery failed in the store, Apple's retry (the same jti) applied it"
    );
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    let (status, _) = me_with(&world, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 401, "consent-revoked ended the session");
}

/// A store whose `apply_notification` fails while `failures` is above zero.
struct FailingNotifications {
    inner: Arc<dyn Store>,
    failures: Arc<AtomicU32>,
}

#[async_trait]
impl Store for FailingNotifications {
    async fn migrate(&self) -> StoreResult<()> {
        self.inner.migrate().await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
    async fn schema(&self) -> StoreResult<Schema> {
        self.inner.schema().await
    }
    async fn put_login(&self, login: &NewLogin) -> StoreResult<()> {
        self.inner.put_login(login).await
    }
    async fn take_login(&self, state_hash: &[u8], now: i64) -> StoreResult<Option<Login>> {
        self.inner.take_login(state_hash, now).await
    }
    async fn put_nonce(&self, hash: &[u8], now: i64, expires_at: i64) -> StoreResult<()> {
        self.inner.put_nonce(hash, now, expires_at).await
    }
    async fn take_nonce(&self, hash: &[u8], now: i64) -> StoreResult<bool> {
        self.inner.take_nonce(hash, now).await
    }
    async fn keep_pending_name(
        &self,
        team: &str,
        sub: &str,
        name: &Name,
        now: i64,
    ) -> StoreResult<()> {
        self.inner.keep_pending_name(team, sub, name, now).await
    }
    async fn pending_name(&self, team: &str, sub: &str) -> StoreResult<Option<Name>> {
        self.inner.pending_name(team, sub).await
    }
    async fn identity_token_spent(&self, hash: &[u8], now: i64) -> StoreResult<bool> {
        self.inner.identity_token_spent(hash, now).await
    }
    async fn complete_sign_in(&self, sign_in: &SignIn) -> StoreResult<SignInOutcome> {
        self.inner.complete_sign_in(sign_in).await
    }
    async fn user(&self, user_id: &str) -> StoreResult<Option<User>> {
        self.inner.user(user_id).await
    }
    async fn apple_link(&self, team: &str, sub: &str) -> StoreResult<Option<AppleLink>> {
        self.inner.apple_link(team, sub).await
    }
    async fn user_apple_tokens(&self, user_id: &str) -> StoreResult<Vec<AppleToken>> {
        self.inner.user_apple_tokens(user_id).await
    }
    async fn create_session(&self, session: &NewSession) -> StoreResult<()> {
        self.inner.create_session(session).await
    }
    async fn rotate_session(&self, rotate: &Rotate) -> StoreResult<Rotation> {
        self.inner.rotate_session(rotate).await
    }
    async fn session_user(
        &self,
        family: &str,
        user: &str,
        after: i64,
    ) -> StoreResult<Option<User>> {
        self.inner.session_user(family, user, after).await
    }
    async fn end_session(&self, family_id: &str) -> StoreResult<()> {
        self.inner.end_session(family_id).await
    }
    async fn end_user_sessions(&self, user_id: &str) -> StoreResult<()> {
        self.inner.end_user_sessions(user_id).await
    }
    async fn apply_notification(&self, notification: &Notification) -> StoreResult<bool> {
        let failing = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(StoreError::Conflict);
        }
        self.inner.apply_notification(notification).await
    }
    async fn erase_user(&self, user_id: &str, now: i64) -> StoreResult<()> {
        self.inner.erase_user(user_id, now).await
    }
    async fn enqueue_deletion(
        &self,
        user_id: &str,
        token: &AppleToken,
        now: i64,
    ) -> StoreResult<()> {
        self.inner.enqueue_deletion(user_id, token, now).await
    }
    async fn due_deletions(
        &self,
        now: i64,
        limit: i64,
        lease: i64,
    ) -> StoreResult<Vec<DeletionJob>> {
        self.inner.due_deletions(now, limit, lease).await
    }
    async fn retry_deletion(&self, job_id: i64, next_at: i64, error: &str) -> StoreResult<()> {
        self.inner.retry_deletion(job_id, next_at, error).await
    }
    async fn finish_deletion(&self, job_id: i64, now: i64) -> StoreResult<()> {
        self.inner.finish_deletion(job_id, now).await
    }
    async fn pending_deletions(&self) -> StoreResult<i64> {
        self.inner.pending_deletions().await
    }
    async fn identities_to_export(
        &self,
        team: &str,
        target: &str,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        self.inner
            .identities_to_export(team, target, after, limit)
            .await
    }
    async fn export_progress(&self, team: &str, target: &str) -> StoreResult<TransferProgress> {
        self.inner.export_progress(team, target).await
    }
    async fn set_transfer_sub(
        &self,
        team: &str,
        sub: &str,
        target: &str,
        ts: &str,
    ) -> StoreResult<()> {
        self.inner.set_transfer_sub(team, sub, target, ts).await
    }
    async fn identities_to_import(
        &self,
        target: &str,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<ExportedIdentity>> {
        self.inner.identities_to_import(target, after, limit).await
    }
    async fn import_progress(&self, target: &str) -> StoreResult<TransferProgress> {
        self.inner.import_progress(target).await
    }
    async fn relink_identity(
        &self,
        ts: &str,
        team: &str,
        sub: &str,
        email: Option<&str>,
    ) -> StoreResult<Relink> {
        self.inner.relink_identity(ts, team, sub, email).await
    }
    async fn put_oidc_code(&self, code: &NewOidcCode) -> StoreResult<()> {
        self.inner.put_oidc_code(code).await
    }
    async fn oidc_code(&self, hash: &[u8]) -> StoreResult<Option<OidcCode>> {
        self.inner.oidc_code(hash).await
    }
    async fn redeem_oidc_code(
        &self,
        hash: &[u8],
        now: i64,
        grant: &NewSession,
    ) -> StoreResult<Redemption> {
        self.inner.redeem_oidc_code(hash, now, grant).await
    }
    async fn spoil_oidc_code(&self, hash: &[u8]) -> StoreResult<()> {
        self.inner.spoil_oidc_code(hash).await
    }
    async fn grant(&self, family_id: &str) -> StoreResult<Option<Grant>> {
        self.inner.grant(family_id).await
    }
    async fn grant_of_refresh_token(&self, hash: &[u8]) -> StoreResult<Option<Grant>> {
        self.inner.grant_of_refresh_token(hash).await
    }
    async fn lease_events(
        &self,
        now: i64,
        limit: i64,
        lease: i64,
    ) -> StoreResult<Vec<OutboxEvent>> {
        self.inner.lease_events(now, limit, lease).await
    }
    async fn delivered_endpoints(&self, seq: i64) -> StoreResult<Vec<String>> {
        self.inner.delivered_endpoints(seq).await
    }
    async fn mark_delivered_to(&self, seq: i64, endpoint: &str, now: i64) -> StoreResult<()> {
        self.inner.mark_delivered_to(seq, endpoint, now).await
    }
    async fn finish_event(
        &self,
        seq: i64,
        state: EventState,
        now: i64,
        error: Option<&str>,
    ) -> StoreResult<()> {
        self.inner.finish_event(seq, state, now, error).await
    }
    async fn retry_event(&self, seq: i64, next_at: i64, error: &str) -> StoreResult<()> {
        self.inner.retry_event(seq, next_at, error).await
    }
    async fn list_events(&self, filter: &EventFilter) -> StoreResult<Vec<OutboxEvent>> {
        self.inner.list_events(filter).await
    }
    async fn event(&self, event_id: &str) -> StoreResult<Option<OutboxEvent>> {
        self.inner.event(event_id).await
    }
    async fn requeue_event(&self, event_id: &str, now: i64) -> StoreResult<bool> {
        self.inner.requeue_event(event_id, now).await
    }
    async fn event_backlog(&self) -> StoreResult<i64> {
        self.inner.event_backlog().await
    }
    async fn purge_events(&self, before: i64) -> StoreResult<()> {
        self.inner.purge_events(before).await
    }
    async fn take_token_checks(
        &self,
        due_before: i64,
        limit: i64,
        now: i64,
    ) -> StoreResult<Vec<AppleToken>> {
        self.inner.take_token_checks(due_before, limit, now).await
    }
    async fn token_check_counts(&self, due_before: i64) -> StoreResult<(i64, i64)> {
        self.inner.token_check_counts(due_before).await
    }
    async fn reschedule_token_check(&self, token: &AppleToken, checked_at: i64) -> StoreResult<()> {
        self.inner.reschedule_token_check(token, checked_at).await
    }
}

// Finding 6: cookies without prefixes.
async fn https_deployments_use_host_prefixed_cookies(backend: Backend) {
    let service = Service::start(backend, |raw| {
        raw.public_url = Some("https://login.example.test".into());
        raw.redirect_uri = Some("https://login.example.test/auth/apple/callback".into());
        raw.allowed_return_origins = Some(vec!["https://login.example.test".into()]);
    })
    .await;
    let response = service.get("/auth/apple/login").await;
    assert_eq!(response.status(), 302);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("__Host-siwa_login="), "{cookie}");
    assert!(cookie.contains("; Path=/;"), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
    // Plain-http loopback keeps today's names (browsers refuse __Host- without TLS).
    let plain = Service::start(backend, |_| {}).await;
    let response = plain.get("/auth/apple/login").await;
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("siwa_login="), "{cookie}");
}

// Finding 7: verification details reached the client.
async fn errors_carry_a_request_id_and_no_verification_detail(backend: Backend) {
    use base64::Engine;
    let world = World::start(backend).await;
    let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let forged = format!(
        "{}.{}.{}",
        b64(r#"{"kid":"nope","alg":"RS256"}"#),
        b64(
            r#"{"iss":"https://appleid.apple.com","aud":"com.example.ios","sub":"x","iat":1,"exp":2}"#
        ),
        b64("sig")
    );
    let response = world
        .http
        .post(format!("{}/auth/apple/native", world.server(0)))
        .json(&json!({"identity_token": forged, "authorization_code": "x", "nonce": "n"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let header = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["request_id"], header.as_str(), "{body}");
    for detail in ["nope", "key set", "com.example", "expired", "1970"] {
        assert!(
            !text.contains(detail),
            "{detail:?} reached the client: {text}"
        );
    }
    // Every answer carries a request id, successes too.
    let ok = world
        .http
        .get(format!("{}/healthz", world.server(0)))
        .send()
        .await
        .unwrap();
    assert!(ok.headers().contains_key("x-request-id"));
}

// Finding 9: rotation extended a session forever.
async fn sessions_have_an_absolute_lifetime(backend: Backend) {
    let world = World::start(backend).await;
    let (status, mut tokens) = post_native(&world, &native_body(&world, "alice").await).await;
    assert_eq!(status, 200, "{tokens}");
    // Refreshing every 20 days keeps the session only up to 90 days after sign-in.
    for _ in 0..4 {
        world.clock.advance(20 * 86_400);
        let (status, next) = refresh(&world, &world.http, &tokens["refresh_token"]).await;
        assert_eq!(status, 200, "{next}");
        tokens = next;
    }
    world.clock.advance(11 * 86_400); // 91 days after the sign-in
    let (status, body) = refresh(&world, &world.http, &tokens["refresh_token"]).await;
    assert_eq!(status, 401, "{body}");
}

// Finding 9: refresh had no rate limit.
async fn refresh_is_rate_limited(backend: Backend) {
    let service = Service::start(backend, |raw| {
        raw.rate_limit_refresh_per_ip_per_minute = Some(1);
        raw.rate_limit_refresh_burst = Some(2);
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let body = json!({ "refresh_token": format!("rt_garbage_{i}") });
        let response = service.post_json("/session/refresh", &body).await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses[..2], [401, 401], "{statuses:?}");
    assert!(statuses[2..].iter().all(|s| *s == 429), "{statuses:?}");
}

// Finding 10: racing refreshes of one token revoked the session (now a configurable grace).
async fn concurrent_refreshes_within_the_grace_get_the_same_successor(backend: Backend) {
    let world = World::start_with(backend, 1, |raw| raw.refresh_reuse_grace_secs = Some(5)).await;
    let (status, tokens) = post_native(&world, &native_body(&world, "alice").await).await;
    assert_eq!(status, 200, "{tokens}");
    let (a, b) = tokio::join!(
        refresh(&world, &world.http, &tokens["refresh_token"]),
        refresh(&world, &world.http, &tokens["refresh_token"]),
    );
    assert_eq!((a.0, b.0), (200, 200), "{} {}", a.1, b.1);
    assert_eq!(
        a.1["refresh_token"], b.1["refresh_token"],
        "the same successor"
    );
    // The successor works; the original, once its successor moved on, is a reuse.
    let (status, next) = refresh(&world, &world.http, &a.1["refresh_token"]).await;
    assert_eq!(status, 200, "{next}");
    let (status, _) = refresh(&world, &world.http, &tokens["refresh_token"]).await;
    assert_eq!(status, 401);
    // Past the grace, a spent token revokes the family, as with the strict default.
    let (status, other) = post_native(&world, &native_body(&world, "bob").await).await;
    assert_eq!(status, 200, "{other}");
    let (status, rotated) = refresh(&world, &world.http, &other["refresh_token"]).await;
    assert_eq!(status, 200, "{rotated}");
    world.clock.advance(6);
    let (status, _) = refresh(&world, &world.http, &other["refresh_token"]).await;
    assert_eq!(status, 401);
    let (status, _) = refresh(&world, &world.http, &rotated["refresh_token"]).await;
    assert_eq!(status, 401, "the family is revoked");
}

// Finding 10: deletion revoked only the last Apple token of an identity.
async fn deletion_revokes_every_apple_token_of_the_user(backend: Backend) {
    let world = World::start(backend).await;
    let mut browser = Browser::new();
    assert_eq!(browser.sign_in(&world.server(0), "alice").await.status, 303);
    let (status, tokens) = post_native(&world, &native_body(&world, "alice").await).await;
    assert_eq!(status, 200, "{tokens}");
    let response = world
        .http
        .delete(format!("{}/me", world.server(0)))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let list: Value = world
        .http
        .get(world.apple_url("/emulator/revocations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let clients: Vec<&str> = list["revocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["client_id"].as_str().unwrap_or(""))
        .collect();
    assert!(
        clients.contains(&crate::harness::WEB) && clients.contains(&IOS),
        "both the web and the app's tokens are revoked: {list}"
    );
    let (status, _) = me_with(&world, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 401);
}
