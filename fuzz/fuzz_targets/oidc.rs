//! The OpenID Provider's routes, through `siwa_server::router` with
//! `tower::ServiceExt::oneshot` on an in-memory store: the authorization
//! request's query, the token and revocation endpoints' forms and Basic
//! credentials, the logout query and the userinfo bearer token, all
//! attacker-controlled.
//!
//! Input: a mode byte, then
//! - mode % 5 == 0: `GET /oauth2/authorize?<rest>`;
//! - 1: `POST /oauth2/token`, `<Authorization header>\n<form body>`;
//! - 2: `POST /oauth2/revoke`, the same;
//! - 3: `GET /oauth2/logout?<rest>`;
//! - 4: `GET /oauth2/userinfo` with `Authorization: <rest>`.
//!
//! Invariants:
//! - nothing panics, and nothing answers 5xx;
//! - a redirect from the authorization endpoint goes to Apple (a sign-in
//!   starts) or to a redirect URI registered for the request's client, and
//!   never carries a code (no browser here has a session);
//! - the token endpoint never answers 200 (no code or refresh token exists);
//! - a redirect from logout goes only to a registered post-logout URI;
//! - userinfo never answers 200.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use siwa_fuzz::prelude::*;
use siwa_server::config::{RawOidc, RawOidcClient};
use siwa_server::{AppState, RawSettings, Settings};
use tower::ServiceExt as _;

const APPLE: &str = "http://127.0.0.1:9";
const WIKI_CB: &str = "https://wiki.example.com/cb";
const APP_CB: &str = "com.example.app:/cb";
const LOOPBACK_CB: &str = "http://127.0.0.1/cb";
const AFTER_LOGOUT: &str = "https://wiki.example.com/";

fn router() -> &'static Router {
    static ROUTER: OnceLock<Router> = OnceLock::new();
    ROUTER.get_or_init(|| {
        siwa_fuzz::block_on(async {
            let raw = RawSettings {
                team_id: Some(fixtures::TEAM_ID.into()),
                key_id: Some(fixtures::KEY_ID.into()),
                private_key: Some(fixtures::P8.into()),
                client_id: Some(fixtures::WEB.into()),
                redirect_uri: Some("https://login.example.com/auth/apple/callback".into()),
                public_url: Some("https://login.example.com".into()),
                database_url: Some("sqlite::memory:".into()),
                apple_base_url: Some(APPLE.into()),
                rate_limit_per_ip_per_minute: Some(0),
                rate_limit_global_per_second: Some(0),
                rate_limit_refresh_per_ip_per_minute: Some(0),
                rate_limit_refresh_global_per_second: Some(0),
                oidc: Some(RawOidc {
                    client: Some(vec![
                        RawOidcClient {
                            id: Some("wiki".into()),
                            secret: Some("wiki-secret-0123456789abcdefghijklmnop".into()),
                            redirect_uris: Some(vec![WIKI_CB.into()]),
                            post_logout_redirect_uris: Some(vec![AFTER_LOGOUT.into()]),
                            ..RawOidcClient::default()
                        },
                        RawOidcClient {
                            id: Some("app".into()),
                            redirect_uris: Some(vec![APP_CB.into(), LOOPBACK_CB.into()]),
                            ..RawOidcClient::default()
                        },
                    ]),
                    ..RawOidc::default()
                }),
                ..RawSettings::default()
            };
            let settings = Settings::load(raw).expect("settings");
            let store = siwa_server::store::connect(&settings.database_url)
                .await
                .expect("store");
            let state = AppState::new(settings, Arc::from(store)).expect("state");
            siwa_server::router(Arc::new(state))
        })
    })
}

/// Where a redirect of the authorization endpoint may go.
fn allowed_authorize_target(location: &str) -> bool {
    if location.starts_with(&format!("{APPLE}/")) {
        return true;
    }
    let base = location.split('?').next().unwrap_or("");
    if base == WIKI_CB || base == APP_CB || base == LOOPBACK_CB {
        return true;
    }
    // A loopback redirect with any port (RFC 8252 §7.3), same path.
    base.strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(port, path)| port.bytes().all(|b| b.is_ascii_digit()) && path == "cb")
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Option<String>) {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    (response.status(), location)
}

fn get(path: &str, query: &[u8]) -> Option<Request<Body>> {
    let uri = format!("{path}?{}", String::from_utf8_lossy(query));
    Request::builder().method(Method::GET).uri(uri).body(Body::empty()).ok()
}

fn post_form(path: &str, rest: &[u8]) -> Option<Request<Body>> {
    let (authorization, body) = siwa_fuzz::cut(rest, b'\n');
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if !authorization.is_empty() {
        if let Ok(value) = header::HeaderValue::from_bytes(authorization) {
            request = request.header(header::AUTHORIZATION, value);
        }
    }
    request.body(Body::from(body.to_vec())).ok()
}

fuzz_target!(
    init: {
        siwa_fuzz::seeds::write_from_env(|| {
            let challenge = b"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
            let mut authorize = b"client_id=app&redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fcb&response_type=code&scope=openid+email&state=s&nonce=n&code_challenge_method=S256&code_challenge=".to_vec();
            authorize.extend_from_slice(challenge);
            vec![
                framed(0, &[b"client_id=wiki&redirect_uri=https%3A%2F%2Fwiki.example.com%2Fcb&response_type=code&scope=openid+profile&state=s&prompt=none"], 0),
                framed(0, &[&authorize], 0),
                framed(0, &[b"client_id=wiki&redirect_uri=https%3A%2F%2Fwiki.example.com%2Fcb&response_type=token&scope=openid&request=x"], 0),
                framed(1, &[b"Basic d2lraTp3aWtpLXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVmZ2hpamtsbW5vcA==", b"grant_type=authorization_code&code=oc_x&redirect_uri=https%3A%2F%2Fwiki.example.com%2Fcb"], b'\n'),
                framed(1, &[b"", b"grant_type=refresh_token&refresh_token=rt_x&client_id=app"], b'\n'),
                framed(2, &[b"", b"token=x&token_type_hint=access_token&client_id=app"], b'\n'),
                framed(3, &[b"client_id=wiki&post_logout_redirect_uri=https%3A%2F%2Fwiki.example.com%2F&state=s&id_token_hint=eyJhbGciOiJSUzI1NiJ9.e30.AA"], 0),
                framed(4, &[b"Bearer eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.e30.AA"], 0),
            ]
        });
    },
    |data: &[u8]| {
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        // Built before any block_on of ours (its own runs on the same runtime).
        let router = router();
        let request = match mode % 5 {
            0 => get("/oauth2/authorize", rest),
            1 => post_form("/oauth2/token", rest),
            2 => post_form("/oauth2/revoke", rest),
            3 => get("/oauth2/logout", rest),
            _ => Request::builder()
                .method(Method::GET)
                .uri("/oauth2/userinfo")
                .header(header::AUTHORIZATION, header::HeaderValue::from_bytes(rest).unwrap_or(header::HeaderValue::from_static("x")))
                .body(Body::empty())
                .ok(),
        };
        // Bytes that make no URI or header are refused by the HTTP layer before us.
        let Some(request) = request else {
            return;
        };
        let (status, location) = siwa_fuzz::block_on(send(router, request));
        assert!(!status.is_server_error(), "mode {mode}: status {status}");
        match mode % 5 {
            0 if status.is_redirection() => {
                let location = location.expect("a redirect has a Location");
                assert!(allowed_authorize_target(&location), "redirect to {location}");
                assert!(!location.contains("code=oc_"), "a code without a session: {location}");
            }
            1 | 4 => assert_ne!(status, StatusCode::OK, "mode {mode}"),
            3 if status.is_redirection() => {
                let location = location.expect("a redirect has a Location");
                assert!(location.starts_with(AFTER_LOGOUT), "logout redirect to {location}");
            }
            _ => {}
        }
    }
);
