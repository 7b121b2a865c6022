//! The OpenID Provider end to end on the emulator: a relying party's
//! sign-in through Sign in with Apple, its tokens, and each refusal the
//! issue names. (Independent clients drive the same flow in
//! `scripts/interop/oidc_*.{py,mjs}`.)

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use siwa_kit::jwks::KeyCache;
use siwa_kit::jws::{self, Rs256};
use siwa_server::config::{RawOidc, RawOidcClient};
use siwa_server::RawSettings;

use crate::harness::{on_both_stores, urlencode, Backend, Browser, World};

pub(crate) const WIKI: &str = "wiki";
pub(crate) const WIKI_SECRET: &str = "wiki-secret-0123456789-abcdefghijklmnop";
pub(crate) const WIKI_CB: &str = "https://wiki.example.test/oauth/callback";
const WIKI_AFTER_LOGOUT: &str = "https://wiki.example.test/";
const APP: &str = "mobile";
const APP_CB: &str = "com.example.app:/oauth2redirect";
const LOOPBACK_CB: &str = "http://127.0.0.1/callback";
const ES_CLIENT: &str = "es-client";
/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

on_both_stores!(
    a_relying_party_signs_in_refreshes_revokes_and_logs_out,
    a_public_client_signs_in_with_pkce_on_a_loopback_port,
    an_es256_client_gets_es256_id_tokens,
    an_unregistered_redirect_uri_gets_a_page_not_a_redirect,
    a_code_works_once_and_its_reuse_revokes_the_grant,
    a_code_of_another_client_is_refused,
    a_wrong_pkce_verifier_is_refused,
    a_public_client_without_pkce_is_refused,
    an_expired_code_is_refused,
    a_mismatched_redirect_uri_at_the_token_endpoint_is_refused,
    prompt_none_without_a_session_is_login_required,
    refresh_token_reuse_revokes_the_grant,
    prompt_login_and_max_age_make_the_user_sign_in_again,
    a_user_who_cancels_at_apple_is_reported_to_the_client,
    grants_and_sessions_do_not_cross,
    a_logout_link_with_someone_elses_id_token_asks_first,
);

/// The settings of a provider with three clients (one signing key shared by
/// the test's replicas, as PostgreSQL deployments configure it).
fn provider(raw: &mut RawSettings) {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(|| siwa_server::oidc::new_signing_key().unwrap().to_string());
    raw.oidc = Some(RawOidc {
        signing_keys: Some(vec![key.as_str().into()]),
        client: Some(vec![
            RawOidcClient {
                id: Some(WIKI.into()),
                secret: Some(WIKI_SECRET.into()),
                redirect_uris: Some(vec![WIKI_CB.into()]),
                post_logout_redirect_uris: Some(vec![WIKI_AFTER_LOGOUT.into()]),
                ..RawOidcClient::default()
            },
            RawOidcClient {
                id: Some(APP.into()),
                redirect_uris: Some(vec![APP_CB.into(), LOOPBACK_CB.into()]),
                ..RawOidcClient::default()
            },
            RawOidcClient {
                id: Some(ES_CLIENT.into()),
                secret: Some(WIKI_SECRET.into()),
                redirect_uris: Some(vec![WIKI_CB.into()]),
                id_token_signed_response_alg: Some("ES256".into()),
                ..RawOidcClient::default()
            },
        ]),
        ..RawOidc::default()
    });
}

/// A relying party's view of the provider.
pub(crate) struct Rp {
    pub(crate) world: World,
    browser: Browser,
}

impl Rp {
    pub(crate) async fn start(backend: Backend) -> Self {
        Self {
            world: World::start_with(backend, 1, provider).await,
            browser: Browser::new(),
        }
    }

    pub(crate) fn server(&self) -> String {
        self.world.server(0)
    }

    fn authorize_url(&self, client: &str, redirect: &str, extra: &[(&str, &str)]) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("client_id", client)
            .append_pair("redirect_uri", redirect)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid profile email")
            .append_pair("state", "rp-state")
            .append_pair("nonce", "rp-nonce");
        for (k, v) in extra {
            q.append_pair(k, v);
        }
        format!("{}/oauth2/authorize?{}", self.server(), q.finish())
    }

    /// The browser at the authorize endpoint: where it is sent.
    async fn visit(&mut self, url: &str) -> (u16, String) {
        let response = self.browser.get(url).await;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, location.unwrap_or_default())
    }

    /// Through Apple (the emulator's consent as `user`), back to the
    /// resume route; where that sends the browser.
    async fn through_apple(&mut self, apple_url: &str, user: &str) -> String {
        let server = self.server();
        assert!(
            apple_url.starts_with(&self.world.apple.base_url()),
            "{apple_url}"
        );
        let fields = self.browser.consent(apple_url, user).await;
        let landing = self.browser.form_post(&server, &fields).await;
        assert_eq!(landing.status, 303, "{}", landing.body);
        let resume = landing.location.unwrap();
        assert!(
            resume.contains("/oauth2/authorize/resume?request="),
            "{resume}"
        );
        let (status, location) = self.visit(&resume).await;
        assert_eq!(status, 303);
        location
    }

    /// A whole sign-in of `user`; the code sent to `redirect`.
    pub(crate) async fn code(
        &mut self,
        client: &str,
        redirect: &str,
        extra: &[(&str, &str)],
        user: &str,
    ) -> String {
        let url = self.authorize_url(client, redirect, extra);
        let (status, location) = self.visit(&url).await;
        let back = if location.starts_with(&self.world.apple.base_url()) {
            assert_eq!(status, 302);
            self.through_apple(&location, user).await
        } else {
            location
        };
        let params = query_of(&back);
        assert_eq!(params["state"], "rp-state", "{back}");
        assert_eq!(params["iss"], self.server(), "RFC 9207");
        assert!(!params.contains_key("error"), "{back}");
        params["code"].clone()
    }

    pub(crate) async fn token(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> (u16, Value) {
        let mut request = self
            .world
            .http
            .post(format!("{}/oauth2/token", self.server()))
            .form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        assert_eq!(response.headers()["cache-control"], "no-store");
        (status, response.json().await.unwrap())
    }

    pub(crate) async fn wiki_exchange(&self, code: &str, redirect: &str) -> (u16, Value) {
        self.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect),
            ],
            Some((WIKI, WIKI_SECRET)),
        )
        .await
    }

    pub(crate) async fn userinfo(&self, access_token: &str) -> (u16, Value) {
        let response = self
            .world
            .http
            .get(format!("{}/oauth2/userinfo", self.server()))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn id_claims(&self, id_token: &str) -> Value {
        let jwks = self
            .world
            .http
            .get(format!("{}/.well-known/jwks.json", self.server()))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let keys = KeyCache::from_json(&jwks).unwrap();
        let verified = jws::verify(id_token, &keys, Rs256).await.unwrap();
        serde_json::from_str(verified.payload()).unwrap()
    }
}

fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

async fn a_relying_party_signs_in_refreshes_revokes_and_logs_out(backend: Backend) {
    let mut rp = Rp::start(backend).await;
    let server = rp.server();

    // Discovery, with every field OpenID Connect Discovery 1.0 §3 requires.
    let discovery: Value = rp
        .world
        .http
        .get(format!("{server}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for required in [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ] {
        assert!(
            discovery.get(required).is_some(),
            "discovery lacks {required}"
        );
    }
    assert_eq!(discovery["issuer"], server);
    assert_eq!(discovery["response_types_supported"], json!(["code"]));
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        json!(["S256"])
    );
    let algs = discovery["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(
        algs.contains(&json!("RS256")),
        "OpenID Connect requires RS256"
    );
    assert!(!algs.contains(&json!("none")), "no alg none");

    // Sign in: Apple's first authorization carries the name.
    let code = rp.code(WIKI, WIKI_CB, &[], "alice").await;
    let (status, tokens) = rp.wiki_exchange(&code, WIKI_CB).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid profile email");
    let claims = rp.id_claims(tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["iss"], server);
    assert_eq!(claims["aud"], WIKI);
    assert_eq!(claims["nonce"], "rp-nonce");
    assert_eq!(claims["given_name"], "Alice");
    assert_eq!(claims["name"], "Alice Appleseed");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], true);
    let me = rp.world.stores[0]
        .user(claims["sub"].as_str().unwrap())
        .await
        .unwrap()
        .expect("sub is the siwa user id");
    assert_eq!(me.first_name.as_deref(), Some("Alice"));
    assert!(claims["auth_time"].as_i64().unwrap() <= claims["iat"].as_i64().unwrap());
    let access = header_of(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["typ"], "at+jwt");

    // Userinfo.
    let (status, info) = rp.userinfo(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["sub"], claims["sub"]);
    assert_eq!(info["family_name"], "Appleseed");

    // Refresh: a new refresh token, the same subject, no nonce.
    let (status, refreshed) = rp
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
            Some((WIKI, WIKI_SECRET)),
        )
        .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_ne!(refreshed["refresh_token"], tokens["refresh_token"]);
    let again = rp.id_claims(refreshed["id_token"].as_str().unwrap()).await;
    assert_eq!(again["sub"], claims["sub"]);
    assert!(again.get("nonce").is_none());

    // Revoke (RFC 7009): the grant ends; userinfo refuses its access tokens.
    let revoked = rp
        .world
        .http
        .post(format!("{server}/oauth2/revoke"))
        .basic_auth(WIKI, Some(WIKI_SECRET))
        .form(&[
            ("token", refreshed["refresh_token"].as_str().unwrap()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let (status, _) = rp
        .userinfo(refreshed["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 401);
    let (status, body) = rp
        .token(
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    refreshed["refresh_token"].as_str().unwrap(),
                ),
            ],
            Some((WIKI, WIKI_SECRET)),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // Log out: the browser's session ends; back to the registered address with the state.
    let logout = format!(
        "{server}/oauth2/logout?id_token_hint={}&post_logout_redirect_uri={}&state=bye",
        tokens["id_token"].as_str().unwrap(),
        urlencode(WIKI_AFTER_LOGOUT)
    );
    let (status, location) = rp.visit(&logout).await;
    assert_eq!(status, 303);
    assert_eq!(location, format!("{WIKI_AFTER_LOGOUT}?state=bye"));
    let (status, back) = rp
        .visit(&rp.authorize_url(WIKI, WIKI_CB, &[("prompt", "none")]))
        .await;
    assert_eq!(status, 303);
    assert_eq!(
        query_of(&back)["error"],
        "login_required",
        "signed out: {back}"
    );

    // A logout to an unregistered address is a page, not a redirect.
    let (status, location) = rp
        .visit(&format!(
            "{server}/oauth2/logout?client_id={WIKI}&post_logout_redirect_uri={}",
            urlencode("https://evil.example/")
        ))
        .await;
    assert_eq!((status, location.as_str()), (400, ""));
}

async fn a_public_client_signs_in_with_pkce_on_a_loopback_port(backend: Backend) {
    let mut rp = Rp::start(backend).await;
    let redirect = "http://127.0.0.1:53682/callback";
    let pkce = [
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let code = rp.code(APP, redirect, &pkce, "bob").await;
    let (status, tokens) = rp
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect),
                ("client_id", APP),
                ("code_verifier", VERIFIER),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let claims = rp.id_claims(tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["aud"], APP);
    // A public client refreshes by its id alone; a secret it has not is refused.
    let (status, _) = rp
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ("client_id", APP),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = rp
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", APP),
                ("client_secret", "guess"),
            ],
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

async fn an_es256_client_gets_es256_id_tokens(backend: Backend) {
    let mut rp = Rp::start(backend).await;
    let code = rp.code(ES_CLIENT, WIKI_CB, &[], "alice").await;
    let (status, tokens) = rp
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", WIKI_CB),
            ],
            Some((ES_CLIENT, WIKI_SECRET)),
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let header = header_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(header["alg"], "ES256");
    let jwks: Value = rp
        .world
        .http
        .get(format!("{}/.well-known/jwks.json", rp.server()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kid"] == header["kid"]));
}

async fn an_unregistered_redirect_uri_gets_a_page_not_a_redirect(backend: Backend) {
    let mut rp = Rp::start(backend).await;
    for (client, redirect) in [
        (WIKI, "https://evil.example/cb"),
        (WIKI, "https://wiki.example.test/oauth/callback/x"),
        ("unknown", WIKI_CB),
        (APP, "http://127.0.0.2:5000/callback"),
    ] {
        let url = rp.authorize_url(client, redirect, &[]);
        let response = rp.browser.get(&url).await;
        assert_eq!(response.status(), 400, "{client} {redirect}");
        assert!(response.headers().get("location").is_none());
        let page = response.text().await.unwrap();
        assert!(page.contains("not valid"), "{page}");
    }
}

async fn a_code_works_once_and_its_reuse_revokes_the_grant(backend: Backend) {
    let mut rp = Rp::start(backend).await;
    let code = rp.code(WIKI, WIKI_CB, &[], "alice").await;
    let (status, tokens) = rp.wiki_exchange(&code, WIKI_CB).await;
    assert_eq!(status, 200);
    let (status, body) = rp.wiki_exchange(&code, WIKI_CB).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // What the first use issued is revoked (RFC 6749 §4.1.2).
    let (status, _) = rp.userinfo(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 401);
    let (status, _) = rp
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
            Some((WIKI, WIKI_SECRET)),
        )
        .await;
    assert_eq!(status, 400);
}

async fn a_code_of_another_client_is_refused(backend: Backend) {
    let mut rp = Rp::start(backend).await;
    let code = rp.code(WIKI, WIKI_CB, &[], "alice").await;
    let (status, body) = rp
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", WIKI_CB),
            ],
            Some((ES_CLIENT, WIKI_SECRET)),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The rightful client still redeems it: the refusal wrote nothing.
    let (status, _) = rp.wiki_exchange(&code, WIKI_CB).await;
    assert_eq!(status, 200);
}

async fn a_wrong_pkce_verifier_is_refused(backend: Backend) {
    let mut rp = Rp::start(backend).await;
    let pkce = [
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let code = rp.code(APP, APP_CB, &pkce, "alice").await;
    let exchange = |verifier: &'static str| {
        [
            ("grant_type", "authorization_code"),
            ("redirect_uri", APP_CB),
            ("client_id", APP),
            ("code_verifier", verifier),
        ]
    };
    let mut wrong = exchange("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK").to_vec();
    wrong.push(("code", &code));
    let (status, body) = rp.token(&wrong, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let mut missing: Vec<(&str, &str)> = exchange(VERIFIER)[..3].to_vec();
    missing.push(("code", &code));
    let (status, _) = rp.token(&missing, None).await;
    assert_eq!(status, 400);
    // A confidential client's code issued without PKCE takes no verifier (no downgrade).
    let plain = rp.code(WIKI, WIKI_CB, &[], "alice").await;
    let (status, body) = rp
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &plain),
                ("redirect_uri", WIKI_CB),
                ("code_verifier", VERIFIER),
            ],
            Some((WIKI, WIKI_SECRET)),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

async fn a_public_client_without_pkce_is_refused(backend: Backend) {
    let mut rp = Rp::start(backend).await;
    let (status, back) = rp.visit(&rp.authorize_url(APP, APP_CB, &[])).await;
    assert_eq!(status, 303);
    assert!(back.starts_with(APP_CB), "{back}");
    let params = query_of(&back);
    assert_eq!(params["error"], "invalid_request");
    assert_eq!(params["state"], "rp-state");
    // `plain` is refused too.
    let (_, back) = rp
        .visit(&rp.authorize_url(
            APP,
            APP_CB,
            &[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "plain"),
            ],
        ))
        .await;
    assert_eq!(query_of(&back)["error"], "invalid_request");
}

async fn an_expired_code_is_refused(backend: Backend) {
    let mut rp = Rp::start(backend).await;
    let code = rp.code(WIKI, WIKI_CB, &[], "alice").await;
    rp.world.clock.advance(61);
    let (status, body) = rp.wiki_exchange(&code, WIKI_CB).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

async fn a_mismatched_redirect_uri_at_the_token_endpoint_is_refused(backend: Backend) {
    let mut rp = Rp::start(backend).await;
    let code = rp.code(WIKI, WIKI_CB, &[], "alice").await;
    let (status, body) = rp
        .wiki_exchange(&code, "https://wiki.example.test/other")
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = rp
        .token(
            &[("grant_type", "authorization_code"), ("code", &code)],
            Some((WIKI, WIKI_SECRET)),
        )
        .await;
    assert_eq!(status, 400, "redirect_uri missing");
    let (status, _) = rp.wiki_exchange(&code, WIKI_CB).await;
    assert_eq!(
        status, 200,
        "the right one still works: refusals wrote nothing"
    );
}

async fn prompt_none_without_a_session_is_login_required(backend: Backend) {
    let mut rp = Rp::start(backend).await;
    let (status, back) = rp
        .visit(&rp.authorize_url(WIKI, WIKI_CB, &[("prompt", "none")]))
        .await;
    assert_eq!(status, 303);
    let params = query_of(&back);
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], "rp-state");
    // With a session, prompt=none gets a code without a visit to Apple.
    rp.code(WIKI, WIKI_CB, &[], "alice").await;
    let (status, back) = rp
        .visit(&rp.authorize_url(WIKI, WIKI_CB, &[("prompt", "none")]))
        .await;
    assert_eq!(status, 303);
    assert!(query_of(&back).contains_key("code"), "{back}");
}

async fn refresh_token_reuse_revokes_the_grant(backend: Backend) {
    let mut rp = Rp::start(backend).await;
    let code = rp.code(WIKI, WIKI_CB, &[], "alice").await;
    let (_, tokens) = rp.wiki_exchange(&code, WIKI_CB).await;
    let first = tokens["refresh_token"].as_str().unwrap();
    let (status, next) = refresh(&rp, first).await;
    assert_eq!(status, 200);
    let (status, body) = refresh(&rp, first).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The whole grant is gone, the successor included.
    let (status, _) = refresh(&rp, next["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400);
    let (status, _) = rp.userinfo(next["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 401);
}

async fn prompt_login_and_max_age_make_the_user_sign_in_again(backend: Backend) {
    let mut rp = Rp::start(backend).await;
    rp.code(WIKI, WIKI_CB, &[], "alice").await;
    for extra in [[("prompt", "login")], [("max_age", "0")]] {
        rp.world.clock.advance(5);
        let (status, location) = rp.visit(&rp.authorize_url(WIKI, WIKI_CB, &extra)).await;
        assert_eq!(status, 302, "{extra:?}: off to Apple despite the session");
        assert!(location.starts_with(&rp.world.apple.base_url()));
        let back = rp.through_apple(&location, "alice").await;
        assert!(query_of(&back).contains_key("code"), "{back}");
    }
    // prompt=none with a max_age the session has outlived: never silently.
    rp.world.clock.advance(5);
    let (_, back) = rp
        .visit(&rp.authorize_url(WIKI, WIKI_CB, &[("prompt", "none"), ("max_age", "1")]))
        .await;
    assert_eq!(query_of(&back)["error"], "login_required");
}

async fn a_user_who_cancels_at_apple_is_reported_to_the_client(backend: Backend) {
    let mut rp = Rp::start(backend).await;
    let server = rp.server();
    let (_, apple) = rp.visit(&rp.authorize_url(WIKI, WIKI_CB, &[])).await;
    // Apple's answer to a cancel: user_cancelled_authorize, form_posted with the state.
    let fields = rp.browser.consent(&apple, "alice").await;
    let state = fields.iter().find(|(k, _)| k == "state").unwrap().1.clone();
    let cancel = vec![
        ("state".to_owned(), state),
        ("error".to_owned(), "user_cancelled_authorize".to_owned()),
    ];
    let landing = rp.browser.form_post(&server, &cancel).await;
    assert_eq!(landing.status, 303, "{}", landing.body);
    let (status, back) = rp.visit(&landing.location.unwrap()).await;
    assert_eq!(status, 303);
    let params = query_of(&back);
    assert_eq!(params["error"], "access_denied", "{back}");
    assert_eq!(params["state"], "rp-state");
}

async fn grants_and_sessions_do_not_cross(backend: Backend) {
    let mut rp = Rp::start(backend).await;
    let server = rp.server();
    let code = rp.code(WIKI, WIKI_CB, &[], "alice").await;
    let (_, tokens) = rp.wiki_exchange(&code, WIKI_CB).await;
    // A relying party's access token opens nothing of the service's own API.
    let me = rp
        .world
        .http
        .get(format!("{server}/me"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    // Nor does its refresh token refresh a session of the service …
    let session = rp
        .world
        .http
        .post(format!("{server}/session/refresh"))
        .json(&json!({"refresh_token": tokens["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(session.status(), 401);
    // … and that refusal did not spend it.
    let (status, refreshed) = rp
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
            Some((WIKI, WIKI_SECRET)),
        )
        .await;
    assert_eq!(status, 200);
    // The service's own tokens are nothing to the provider.
    let (status, native) = rp.world.native_sign_in(0, "bob").await;
    assert_eq!(status, 200);
    let (status, _) = rp.userinfo(native["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 401);
    let (status, _) = rp
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", native["refresh_token"].as_str().unwrap()),
            ],
            Some((WIKI, WIKI_SECRET)),
        )
        .await;
    assert_eq!(status, 400);
    // Another client cannot refresh the wiki's grant.
    let (status, _) = rp
        .token(
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    refreshed["refresh_token"].as_str().unwrap(),
                ),
            ],
            Some((ES_CLIENT, WIKI_SECRET)),
        )
        .await;
    assert_eq!(status, 400);
}

async fn refresh(rp: &Rp, token: &str) -> (u16, Value) {
    rp.token(
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
        Some((WIKI, WIKI_SECRET)),
    )
    .await
}

/// Logout CSRF: any site can link to the logout endpoint with an ID token of
/// its own user; it must not sign the browser's (other) user out unasked.
async fn a_logout_link_with_someone_elses_id_token_asks_first(backend: Backend) {
    let mut rp = Rp::start(backend).await;
    let server = rp.server();
    // The attacker's own ID token (bob), from their own browser.
    let victims = std::mem::replace(&mut rp.browser, Browser::new());
    let bob_code = rp.code(WIKI, WIKI_CB, &[], "bob").await;
    let (_, bob_tokens) = rp.wiki_exchange(&bob_code, WIKI_CB).await;
    rp.browser = victims;
    // The victim (alice) is signed in in this browser.
    rp.code(WIKI, WIKI_CB, &[], "alice").await;
    let link = format!(
        "{server}/oauth2/logout?id_token_hint={}&post_logout_redirect_uri={}",
        bob_tokens["id_token"].as_str().unwrap(),
        urlencode(WIKI_AFTER_LOGOUT)
    );
    let response = rp.browser.get(&link).await;
    assert_eq!(
        response.status(),
        200,
        "a confirmation page, not a redirect"
    );
    let page = response.text().await.unwrap();
    assert!(
        page.contains("id=\"sign-out\"") && page.contains("name=\"client_id\" value=\"wiki\""),
        "{page}"
    );
    let (status, back) = rp
        .visit(&rp.authorize_url(WIKI, WIKI_CB, &[("prompt", "none")]))
        .await;
    assert_eq!(status, 303);
    assert!(
        query_of(&back).contains_key("code"),
        "alice is still signed in: {back}"
    );
}
