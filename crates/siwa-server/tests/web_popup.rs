//! Sign in with Apple JS against the service (`/auth/apple/web/*`), with the
//! emulator's popup answer (`response_mode=web_message`) read as the page
//! would; CORS; several Services IDs. (A real browser drives the same in
//! `scripts/interop/web_popup.py` and `web_spa.py`.)

use serde_json::{json, Value};
use siwa_server::config::RawWebClient;
use siwa_server::RawSettings;

use crate::harness::{on_both_stores, urlencode, Backend, Browser, World, WEB, WEB2};

const SPA: &str = "http://127.0.0.1:5173";

on_both_stores!(
    a_popup_sign_in_begins_and_completes_with_cookie_and_tokens,
    complete_refuses_another_browser_and_a_used_state,
    the_code_is_exchanged_with_the_redirect_uri_given_to_init,
    begin_takes_only_listed_popup_pages_and_clients,
    cors_allows_listed_origins_with_credentials_and_refuses_the_rest,
    two_services_ids_sign_in_as_one_user,
    a_token_of_another_services_id_is_refused,
);

/// The popup pages of the primary client, a second Services ID, a front end on another origin.
fn web_clients(raw: &mut RawSettings) {
    let public = raw.public_url.clone().unwrap_or_default();
    raw.popup_redirect_uris = Some(vec![
        format!("{public}/popup"),
        format!("{public}/other-popup"),
    ]);
    raw.allowed_web_origins = Some(vec![SPA.into()]);
    raw.web = Some(vec![RawWebClient {
        client_id: Some(WEB2.into()),
        redirect_uri: Some(format!("{public}/auth/apple/callback")),
        ..RawWebClient::default()
    }]);
}

/// A page running Apple's JS: its browser (cookies) and the service.
struct Page {
    world: World,
    browser: Browser,
}

impl Page {
    async fn start(backend: Backend) -> Self {
        Self {
            world: World::start_with(backend, 1, web_clients).await,
            browser: Browser::new(),
        }
    }

    fn server(&self) -> String {
        self.world.server(0)
    }

    async fn post(
        &mut self,
        path: &str,
        body: &Value,
        origin: Option<&str>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self
            .browser
            .http
            .post(format!("{}{path}", self.server()))
            .header("cookie", self.browser.cookie_header())
            .json(body);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = request.send().await.unwrap();
        self.browser.keep_cookies(&response);
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (
            status,
            response.json().await.unwrap_or(Value::Null),
            headers,
        )
    }

    async fn begin(&mut self, body: Value) -> Value {
        let (status, config, _) = self.post("/auth/apple/web/begin", &body, None).await;
        assert_eq!(status, 200, "{config}");
        config
    }

    /// What `AppleID.auth.signIn` resolves to in a popup whose
    /// `redirectURI` is `redirect` (the emulator's consent, scripted).
    async fn popup(&self, config: &Value, redirect: &str, user: &str) -> Value {
        let url = format!(
            "{}?client_id={}&redirect_uri={}&response_type=code%20id_token&response_mode=web_message&scope={}&state={}&nonce={}&emulator_user={user}",
            self.world.apple_url("/auth/authorize"),
            urlencode(config["client_id"].as_str().unwrap()),
            urlencode(redirect),
            urlencode(config["scope"].as_str().unwrap()),
            urlencode(config["state"].as_str().unwrap()),
            urlencode(config["nonce"].as_str().unwrap()),
        );
        let page = self
            .world
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let message = posted_message(&page);
        assert_eq!(message["method"], "oauthDone", "{message}");
        message["data"].clone()
    }

    async fn complete(&mut self, answer: &Value) -> (u16, Value) {
        let mut body = json!({
            "code": answer["authorization"]["code"],
            "id_token": answer["authorization"]["id_token"],
            "state": answer["authorization"]["state"],
        });
        if let Some(user) = answer.get("user") {
            body["user"] = user.clone();
        }
        let (status, session, _) = self.post("/auth/apple/web/complete", &body, None).await;
        (status, session)
    }
}

/// The message the emulator's popup page posts to its opener.
fn posted_message(page: &str) -> Value {
    let start = page.find("var message = ").expect("a message") + "var message = ".len();
    let literal = &page[start..start + page[start..].find(";\n").unwrap()];
    let text: String = serde_json::from_str(literal).unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn a_popup_sign_in_begins_and_completes_with_cookie_and_tokens(backend: Backend) {
    let mut page = Page::start(backend).await;
    let popup = format!("{}/popup", page.server());
    let config = page.begin(json!({})).await;
    assert_eq!(config["client_id"], WEB);
    assert_eq!(
        config["redirect_uri"], popup,
        "the first popup page by default"
    );
    assert_eq!(config["scope"], "name email");
    for field in ["state", "nonce"] {
        assert!(
            config[field].as_str().is_some_and(|v| v.len() > 20),
            "{config}"
        );
    }
    let answer = page.popup(&config, &popup, "alice").await;
    assert_eq!(
        answer["user"]["name"]["firstName"], "Alice",
        "Apple's first-login user: {answer}"
    );
    let (status, session) = page.complete(&answer).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["user"]["first_name"], "Alice");
    assert!(session["access_token"].is_string() && session["refresh_token"].is_string());
    // The same browser is signed in by cookie too.
    let (status, me) = page.browser.me(&page.server()).await;
    assert_eq!(
        (status, me["id"].clone()),
        (200, session["user"]["id"].clone())
    );
}

async fn complete_refuses_another_browser_and_a_used_state(backend: Backend) {
    let mut page = Page::start(backend).await;
    let popup = format!("{}/popup", page.server());
    let config = page.begin(json!({})).await;
    let answer = page.popup(&config, &popup, "alice").await;
    // Another browser (no login cookie, or another one).
    let stranger = Browser::new();
    let body = json!({
        "code": answer["authorization"]["code"],
        "id_token": answer["authorization"]["id_token"],
        "state": answer["authorization"]["state"],
    });
    let response = stranger
        .http
        .post(format!("{}/auth/apple/web/complete", page.server()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "no login cookie");
    let mut cookies = page.browser.cookies.clone();
    for value in cookies.values_mut() {
        *value = "another-browser".into();
    }
    let forged = page
        .browser
        .http
        .post(format!("{}/auth/apple/web/complete", page.server()))
        .header(
            "cookie",
            cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    let forged_status = forged.status().as_u16();
    let forged_body: Value = forged.json().await.unwrap();
    assert_eq!(
        (forged_status, forged_body["error"].as_str()),
        (400, Some("state_mismatch"))
    );
    // The state was taken by that attempt: single use, even for the right browser.
    let (status, body) = page.complete(&answer).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unknown_state")),
        "{body}"
    );
}

async fn the_code_is_exchanged_with_the_redirect_uri_given_to_init(backend: Backend) {
    let mut page = Page::start(backend).await;
    let other = format!("{}/other-popup", page.server());
    // The page said /popup to the service, but Apple's popup ran with another page.
    let config = page.begin(json!({})).await;
    let answer = page.popup(&config, &other, "alice").await;
    let (status, body) = page.complete(&answer).await;
    assert_ne!(
        status, 200,
        "Apple refuses the exchange (invalid_grant): {body}"
    );
    // Named at begin, the same page works.
    let config = page.begin(json!({"redirect_uri": other})).await;
    assert_eq!(config["redirect_uri"], other);
    let answer = page.popup(&config, &other, "alice").await;
    let (status, body) = page.complete(&answer).await;
    assert_eq!(status, 200, "{body}");
}

async fn begin_takes_only_listed_popup_pages_and_clients(backend: Backend) {
    let mut page = Page::start(backend).await;
    for (body, expected) in [
        (
            json!({"redirect_uri": "https://evil.example/popup"}),
            (400, "redirect_uri_not_allowed"),
        ),
        (
            json!({"client_id": "com.example.unknown"}),
            (400, "unknown_client"),
        ),
        (json!({"client_id": WEB2}), (400, "popup_not_configured")),
        (json!({"unexpected": 1}), (422, "invalid_request")),
    ] {
        let (status, answer, _) = page.post("/auth/apple/web/begin", &body, None).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (expected.0, Some(expected.1)),
            "{body}"
        );
    }
}

async fn cors_allows_listed_origins_with_credentials_and_refuses_the_rest(backend: Backend) {
    let mut page = Page::start(backend).await;
    let preflight = page
        .browser
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/auth/apple/web/begin", page.server()),
        )
        .header("origin", SPA)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], SPA);
    assert_eq!(
        preflight.headers()["access-control-allow-credentials"],
        "true"
    );
    let (status, _, headers) = page
        .post("/auth/apple/web/begin", &json!({}), Some(SPA))
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers["access-control-allow-origin"], SPA);
    // Another origin: no CORS headers for the browser, and a 403 from the service.
    for origin in ["http://127.0.0.1:6666", "https://evil.example", "null"] {
        let (status, body, headers) = page
            .post("/auth/apple/web/begin", &json!({}), Some(origin))
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("origin_not_allowed")),
            "{origin}"
        );
        assert!(headers.get("access-control-allow-origin").is_none());
        let preflight = page
            .browser
            .http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/auth/apple/web/complete", page.server()),
            )
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 403, "{origin}");
    }
    // The service's own pages need nothing listed.
    let own = page.server();
    let (status, _, _) = page
        .post("/auth/apple/web/begin", &json!({}), Some(&own))
        .await;
    assert_eq!(status, 200);
}

async fn two_services_ids_sign_in_as_one_user(backend: Backend) {
    let page = Page::start(backend).await;
    let server = page.server();
    let mut ids = Vec::new();
    for client in [WEB, WEB2] {
        let mut browser = Browser::new();
        let authorize = browser
            .get(&format!("{server}/auth/apple/login?client_id={client}"))
            .await;
        assert_eq!(authorize.status(), 302);
        let apple = authorize.headers()["location"].to_str().unwrap().to_owned();
        assert!(apple.contains(&format!("client_id={client}")), "{apple}");
        let fields = browser.consent(&apple, "bob").await;
        let landing = browser.form_post(&server, &fields).await;
        assert_eq!(landing.status, 303, "{}", landing.body);
        let (status, me) = browser.me(&server).await;
        assert_eq!(status, 200);
        ids.push(me["id"].clone());
    }
    assert_eq!(
        ids[0], ids[1],
        "one Apple identity, one user, whichever Services ID"
    );
    let unknown = Browser::new()
        .get(&format!(
            "{server}/auth/apple/login?client_id=com.example.unknown"
        ))
        .await;
    assert_eq!(unknown.status(), 400);
}

async fn a_token_of_another_services_id_is_refused(backend: Backend) {
    let mut page = Page::start(backend).await;
    let popup = format!("{}/popup", page.server());
    let config = page.begin(json!({})).await;
    // An identity token Apple issued to the second Services ID, for the same user.
    let mut other = config.clone();
    other["client_id"] = json!(WEB2);
    let foreign = page
        .popup(
            &other,
            &format!("{}/auth/apple/callback", page.server()),
            "alice",
        )
        .await;
    let mut answer = page.popup(&config, &popup, "alice").await;
    answer["authorization"]["id_token"] = foreign["authorization"]["id_token"].clone();
    let (status, body) = page.complete(&answer).await;
    assert_eq!(status, 401, "{body}");
}
