//! The emulator's token endpoint: `POST /auth/token` (and its
//! `/auth/oauth2/v2/` twin) through `siwa_emulator`'s router with
//! `tower::ServiceExt::oneshot`, on a current-thread runtime made once.
//!
//! Input: a mode byte, then
//! - mode & 3 == 3: a content type, a newline, the body;
//! - else the body, sent as `application/x-www-form-urlencoded` (0), with
//!   `; charset=UTF-8` (1), or with no content type (2).
//!
//! In the body, `$SECRET` and `$IOSSECRET` stand for client secrets the
//! emulator accepts (for com.example.web and com.example.ios), `$CODE` for an
//! authorization code (good once) and `$REFRESH` for a refresh token, so the
//! fuzzer gets past client authentication to the grants.
//!
//! Invariants:
//! - nothing panics, and the answer is never a 5xx;
//! - every answer is 200 or 4xx; a 200 is Apple's token JSON: for the
//!   client-credentials grant (team transfer's `user.migration` token) an
//!   access token of an hour and nothing else, for the other grants one whose
//!   `id_token` verifies with siwa-kit against the emulator's `/auth/keys`,
//!   for the client that asked; a 400 is `{"error": "<code>"}` with one of
//!   Apple's codes.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use siwa_emulator::{Config, Emulator, Options};
use siwa_fuzz::fixtures::{IOS, NOW, P8_PUB, WEB};
use siwa_fuzz::prelude::*;
use siwa_kit::clock::{FixedClock, UnixTime};
use siwa_kit::ids::ClientId;
use siwa_kit::jwks::KeyCache;
use siwa_kit::Verifier;
use tower::ServiceExt as _;

/// Apple's error codes of `/auth/token`.
const APPLE_ERRORS: [&str; 6] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
];

struct Harness {
    router: Router,
    verifier: Verifier,
    placeholders: Vec<(&'static [u8], Vec<u8>)>,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| siwa_fuzz::block_on(Harness::start()))
}

impl Harness {
    async fn start() -> Self {
        let config = Config::from_toml(&config_toml(), ".".as_ref()).expect("emulator config");
        let options = Options {
            clock: Some(Arc::new(FixedClock(UnixTime::from_secs(NOW)))),
            ..Options::default()
        };
        let router = Emulator::with_options(config, options)
            .expect("emulator")
            .router();
        let keys = call(&router, Method::GET, "/auth/keys", None, Vec::new()).await;
        assert_eq!(keys.0, StatusCode::OK);
        let verifier = Verifier::new(
            Arc::new(KeyCache::from_json(&keys.1).expect("the emulator's key set")),
            [
                ClientId::new(WEB).expect("id"),
                ClientId::new(IOS).expect("id"),
            ],
        )
        .clock(Arc::new(FixedClock(UnixTime::from_secs(NOW))));
        let ios_secret = fixtures::client_secret(IOS, NOW);
        let mut codes = Vec::new();
        for _ in 0..2 {
            let native = serde_json::json!({"client_id": IOS, "user": "alice", "nonce": "n"});
            let (status, body) = call(
                &router,
                Method::POST,
                "/emulator/native",
                Some("application/json"),
                native.to_string().into_bytes(),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            let body: Value = serde_json::from_slice(&body).expect("JSON");
            codes.push(
                body["authorization_code"]
                    .as_str()
                    .expect("a code")
                    .to_owned(),
            );
        }
        let exchange = form(&[
            ("grant_type", "authorization_code"),
            ("client_id", IOS),
            ("client_secret", &ios_secret),
            ("code", &codes[1]),
        ]);
        let (status, body) = call(
            &router,
            Method::POST,
            "/auth/token",
            Some(FORM),
            exchange.into_bytes(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let body: Value = serde_json::from_slice(&body).expect("JSON");
        let refresh = body["refresh_token"]
            .as_str()
            .expect("a refresh token")
            .to_owned();
        let placeholders: Vec<(&'static [u8], Vec<u8>)> = vec![
            (b"$IOSSECRET", ios_secret.into_bytes()),
            (b"$SECRET", fixtures::client_secret(WEB, NOW).into_bytes()),
            (b"$CODE", codes[0].clone().into_bytes()),
            (b"$REFRESH", refresh.into_bytes()),
        ];
        Self {
            router,
            verifier,
            placeholders,
        }
    }
}

const FORM: &str = "application/x-www-form-urlencoded";

fn config_toml() -> String {
    format!(
        r#"
[[team]]
id = "{team}"
  [[team.key]]
  id = "{kid}"
  public_key_pem = """{pem}"""
  [[team.client]]
  id = "{WEB}"
  redirect_uris = ["https://example.com/auth/apple/callback"]
  [[team.client]]
  id = "{IOS}"
[[user]]
id = "alice"
email = "alice@example.com"
first_name = "Alice"
last_name = "Appleseed"
real_user_status = 2
"#,
        team = fixtures::TEAM_ID,
        kid = fixtures::KEY_ID,
        pem = P8_PUB.trim(),
    )
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        out.append_pair(name, value);
    }
    out.finish()
}

async fn call(
    router: &Router,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let request = request.body(Body::from(body)).expect("a request");
    send(router, request).await
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Vec<u8>) {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("the body");
    (status, body.to_vec())
}

fn replace_all(body: &[u8], placeholders: &[(&'static [u8], Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    'scan: while i < body.len() {
        if body[i] == b'$' {
            for (name, value) in placeholders {
                if body[i..].starts_with(name) {
                    out.extend_from_slice(value);
                    i += name.len();
                    continue 'scan;
                }
            }
        }
        out.push(body[i]);
        i += 1;
    }
    out
}

fuzz_target!(
    init: {
        siwa_fuzz::seeds::write_from_env(|| {
            let mut seeds = Vec::new();
            for body in [
                "grant_type=authorization_code&client_id=com.example.ios&client_secret=$IOSSECRET&code=$CODE",
                "grant_type=refresh_token&client_id=com.example.ios&client_secret=$IOSSECRET&refresh_token=$REFRESH",
                "grant_type=authorization_code&client_id=com.example.web&client_secret=$SECRET&code=nope&redirect_uri=https%3A%2F%2Fexample.com%2Fauth%2Fapple%2Fcallback",
                "grant_type=client_credentials&client_id=com.example.web&client_secret=$SECRET",
                "grant_type=client_credentials&scope=user.migration&client_id=com.example.ios&client_secret=$IOSSECRET",
                "grant_type=refresh_token&client_id=com.example.web&client_secret=$SECRET&refresh_token=$REFRESH",
                "grant_type=authorization_code&client_id=com.example.web&client_secret=eyJhbGciOiJFUzI1NiJ9.e30.AA&code=x",
                "grant_type=authorization_code&grant_type=refresh_token",
            ] {
                seeds.push(framed(0, &[body.as_bytes()], 0));
                seeds.push(framed(4, &[body.as_bytes()], 0));
            }
            seeds.push(framed(3, &[b"Application/X-WWW-Form-Urlencoded;charset=utf-8\ngrant_type=refresh_token&client_id=com.example.ios&client_secret=$IOSSECRET&refresh_token=$REFRESH"], 0));
            seeds.push(framed(2, &[b"grant_type=authorization_code"], 0));
            seeds.push(framed(3, &[b"application/json\n{\"grant_type\":\"authorization_code\"}"], 0));
            seeds
        });
    },
    |data: &[u8]| {
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        let h = harness();
        let (content_type, body): (Option<&[u8]>, &[u8]) = match mode & 3 {
            0 => (Some(FORM.as_bytes()), rest),
            1 => (Some(b"application/x-www-form-urlencoded; charset=UTF-8"), rest),
            2 => (None, rest),
            _ => {
                let (ct, body) = siwa_fuzz::cut(rest, b'\n');
                (Some(ct), body)
            }
        };
        let path = if mode & 4 == 0 { "/auth/token" } else { "/auth/oauth2/v2/token" };
        let body = replace_all(body, &h.placeholders);
        let mut request = Request::builder().method(Method::POST).uri(path);
        if let Some(ct) = content_type.and_then(|ct| header::HeaderValue::from_bytes(ct).ok()) {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        let request = request.body(Body::from(body.clone())).expect("a request");
        let (status, answer) = siwa_fuzz::block_on(send(&h.router, request));
        assert!(
            status == StatusCode::OK || status.is_client_error(),
            "status {status}: {}",
            String::from_utf8_lossy(&answer)
        );
        if status == StatusCode::OK {
            let json: Value = serde_json::from_slice(&answer).expect("a 200 is JSON");
            assert_eq!(json["token_type"], "Bearer");
            assert!(json["access_token"].as_str().is_some_and(|t| !t.is_empty()));
            let grant = form_urlencoded::parse(&body)
                .find(|(name, _)| name == "grant_type")
                .map(|(_, value)| value.into_owned());
            if grant.as_deref() == Some("client_credentials") {
                assert_eq!(json["expires_in"], 3600, "{json}");
                assert!(json.get("id_token").is_none() && json.get("refresh_token").is_none(), "{json}");
                return;
            }
            let id_token = json["id_token"].as_str().expect("an id_token");
            let claims = siwa_fuzz::block_on(h.verifier.verify(id_token))
                .unwrap_or_else(|e| panic!("the emulator's id_token does not verify: {e}"));
            let client = form_urlencoded::parse(&body)
                .find(|(name, _)| name == "client_id")
                .map(|(_, value)| value.into_owned())
                .expect("a client_id");
            assert_eq!(claims.audience(), client);
        } else if status == StatusCode::BAD_REQUEST {
            let json: Value = serde_json::from_slice(&answer).expect("a 400 is JSON");
            let code = json["error"].as_str().expect("an error code");
            assert!(APPLE_ERRORS.contains(&code), "error {code:?} is not Apple's");
        }
    }
);
