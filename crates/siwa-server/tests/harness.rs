//! An emulator and a `siwa serve` on loopback, wired to each other, on
//! SQLite or PostgreSQL; and a browser-like client.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use siwa_emulator::{ConfigBuilder, Emulator, Options, RunningEmulator, TeamBuilder, UserBuilder};
use siwa_kit::clock::{Clock, ManualClock, SystemClock};
use siwa_server::store::Store;
use siwa_server::{AppState, RawSettings, RunningServer, ServiceKeys, Settings};
use tower::ServiceExt;

pub(crate) const TEAM: &str = "DEF123GHIJ";
pub(crate) const WEB: &str = "com.example.web";
/// A second Services ID of the team (a second web front end).
pub(crate) const WEB2: &str = "com.example.web2";
pub(crate) const IOS: &str = "com.example.ios";
/// Where a [`Service`] says it is and where it looks for Apple: the discard
/// port, which nothing here listens on.
const NOBODY: &str = "http://127.0.0.1:9";

/// Which store a test runs on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body on SQLite, and on PostgreSQL when `SIWA_TEST_DATABASE_URL` is set.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::harness::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::harness::postgres_url().is_none() {
                        eprintln!("skipping the PostgreSQL run: SIWA_TEST_DATABASE_URL is not set");
                        return;
                    }
                    super::$name($crate::harness::Backend::Postgres).await;
                }
            )*
        }
    };
}
pub(crate) use on_both_stores;

pub(crate) fn postgres_url() -> Option<String> {
    std::env::var("SIWA_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

pub(crate) fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../siwa-kit/tests/fixtures")
}

pub(crate) fn unique(prefix: &str) -> String {
    let mut bytes = [0u8; 6];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}_{}_{hex}", std::process::id())
}

/// A database for one test: a SQLite file in a fresh directory, or a fresh
/// PostgreSQL schema (dropped when the test's database is dropped).
pub(crate) struct Database {
    pub(crate) url: String,
    dir: Option<PathBuf>,
    schema: Option<(String, String)>,
}

impl Database {
    /// A SQLite database file in `dir` (which the caller owns and removes).
    pub(crate) fn sqlite_in(dir: &std::path::Path) -> Self {
        Self {
            url: format!("sqlite://{}", dir.join("siwa.db").display()),
            dir: None,
            schema: None,
        }
    }

    /// A database the caller runs (a PostgreSQL cluster of its own).
    pub(crate) fn at(url: String) -> Self {
        Self {
            url,
            dir: None,
            schema: None,
        }
    }

    pub(crate) async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(unique("siwa-e2e"));
                std::fs::create_dir_all(&dir).unwrap();
                let url = format!("sqlite://{}", dir.join("siwa.db").display());
                Self {
                    url,
                    dir: Some(dir),
                    schema: None,
                }
            }
            Backend::Postgres => {
                let base = postgres_url().unwrap();
                let schema = unique("siwa_e2e");
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
                    .await
                    .unwrap();
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                Self {
                    url,
                    dir: None,
                    schema: Some((base, schema)),
                }
            }
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((base, schema)) = self.schema.take() {
            // Best effort, on a thread of its own: Drop cannot await.
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(mut conn) =
                        <sqlx::PgConnection as sqlx::Connection>::connect(&base).await
                    {
                        let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                            .execute(&mut conn)
                            .await;
                    }
                });
            })
            .join()
            .ok();
        }
    }
}

/// Keys shared by every replica of one test (PostgreSQL requires configured keys).
pub(crate) fn shared_keys() -> (String, String) {
    let (session, encryption) = ServiceKeys::new_settings().unwrap();
    (session.to_string(), encryption.to_string())
}

/// An emulator and one (or more) services on one database.
pub(crate) struct World {
    pub(crate) apple: RunningEmulator,
    pub(crate) servers: Vec<RunningServer>,
    pub(crate) states: Vec<Arc<AppState>>,
    /// Each service's store, for looking behind the API.
    pub(crate) stores: Vec<Arc<dyn Store>>,
    _db: Database,
    pub(crate) http: reqwest::Client,
    pub(crate) clock: Arc<ManualClock>,
}

impl World {
    pub(crate) async fn start(backend: Backend) -> Self {
        Self::start_with(backend, 1, |_| {}).await
    }

    /// `n` services on one database, sharing keys, behind one public URL (the first's).
    pub(crate) async fn start_replicas(backend: Backend, n: usize) -> Self {
        Self::start_with(backend, n, |_| {}).await
    }

    /// As [`Self::start_replicas`], with settings adjusted by `tweak`.
    pub(crate) async fn start_with(
        backend: Backend,
        n: usize,
        tweak: impl Fn(&mut RawSettings),
    ) -> Self {
        Self::start_wrapped(backend, n, tweak, |store| store).await
    }

    /// As [`Self::start_with`], each service's store seen through `wrap` (fault injection).
    pub(crate) async fn start_wrapped(
        backend: Backend,
        n: usize,
        tweak: impl Fn(&mut RawSettings),
        wrap: impl Fn(Arc<dyn Store>) -> Arc<dyn Store>,
    ) -> Self {
        Self::start_on(Database::new(backend).await, n, tweak, wrap).await
    }

    /// `n` services on `db`.
    pub(crate) async fn start_on(
        db: Database,
        n: usize,
        tweak: impl Fn(&mut RawSettings),
        wrap: impl Fn(Arc<dyn Store>) -> Arc<dyn Store>,
    ) -> Self {
        let listeners: Vec<tokio::net::TcpListener> = futures_join(n).await;
        let public = format!("http://{}", listeners[0].local_addr().unwrap());
        let config = ConfigBuilder::new()
            .notification_url(format!("{public}/auth/apple/notifications"))
            .notify_on_revoke(false)
            .team(
                TeamBuilder::new(TEAM)
                    .key_file("ABC123DEFG", "AuthKey_ABC123DEFG.pub.pem")
                    .client(
                        WEB,
                        [
                            format!("{public}/auth/apple/callback"),
                            format!("{public}/popup"),
                            format!("{public}/other-popup"),
                        ],
                    )
                    .client(WEB2, [format!("{public}/auth/apple/callback")])
                    .native_client(IOS),
            )
            .user(UserBuilder::alice())
            .user(UserBuilder::bob())
            .build(&fixtures())
            .unwrap();
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let apple = Emulator::with_options(
            config,
            Options {
                clock: Some(clock.clone() as Arc<dyn Clock>),
                state_file: None,
            },
        )
        .unwrap()
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
        let keys = shared_keys();
        let mut servers = Vec::new();
        let mut states = Vec::new();
        let mut stores = Vec::new();
        for listener in listeners {
            let mut raw = raw_settings(&public, &apple.base_url(), &db, &keys);
            tweak(&mut raw);
            let (state, store) = service_state(raw, &wrap, clock.clone()).await;
            stores.push(store);
            servers.push(siwa_server::start_on(Arc::clone(&state), listener).unwrap());
            states.push(state);
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .unwrap();
        Self {
            apple,
            servers,
            states,
            stores,
            _db: db,
            http,
            clock,
        }
    }

    /// The shared clock, in Unix seconds.
    pub(crate) fn clock_secs(&self) -> u64 {
        self.clock.now().secs()
    }

    /// Whether the Apple identity (team, sub) is marked revoked; `None` when unknown.
    pub(crate) async fn link_revoked(&self, team: &str, sub: &str) -> Option<bool> {
        self.stores[0]
            .apple_link(team, sub)
            .await
            .unwrap()
            .map(|link| link.revoked)
    }

    pub(crate) fn server(&self, i: usize) -> String {
        self.servers[i].base_url()
    }

    pub(crate) fn apple_url(&self, path: &str) -> String {
        format!("{}{path}", self.apple.base_url())
    }

    /// Injects a fault into the emulator.
    pub(crate) async fn fault(&self, fault: serde_json::Value) {
        let status = self
            .http
            .post(self.apple_url("/emulator/faults"))
            .json(&fault)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }

    /// Requests the emulator served per route.
    pub(crate) async fn apple_requests(&self, route: &str) -> u64 {
        let stats: serde_json::Value = self
            .http
            .get(self.apple_url("/emulator/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stats["requests"][route].as_u64().unwrap_or(0)
    }

    /// A native sign-in at service `i`, as an app makes it (a raw nonce hashed
    /// into Apple's request): status and body.
    pub(crate) async fn native_sign_in(&self, i: usize, user: &str) -> (u16, serde_json::Value) {
        let raw_nonce = crate::harness::unique("nonce");
        let credential = self
            .native_credential(user, Some(&sha256_hex(&raw_nonce)))
            .await;
        let mut body = serde_json::json!({
            "identity_token": credential["identity_token"],
            "authorization_code": credential["authorization_code"],
            "nonce": raw_nonce,
        });
        if !credential["user"].is_null() {
            body["user"] = credential["user"].clone();
        }
        let response = self
            .http
            .post(format!("{}/auth/apple/native", self.server(i)))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// What a native app gets from Apple.
    pub(crate) async fn native_credential(
        &self,
        user: &str,
        nonce_hash: Option<&str>,
    ) -> serde_json::Value {
        let mut body = serde_json::json!({"client_id": IOS, "user": user});
        if let Some(nonce) = nonce_hash {
            body["nonce"] = nonce.into();
        }
        self.http
            .post(self.apple_url("/emulator/native"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

async fn futures_join(n: usize) -> Vec<tokio::net::TcpListener> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    out
}

/// The settings of a test service at `public` calling Apple at `apple`, on `db`,
/// with `keys` (session, encryption) shared by its replicas.
fn raw_settings(public: &str, apple: &str, db: &Database, keys: &(String, String)) -> RawSettings {
    RawSettings {
        team_id: Some(TEAM.into()),
        key_id: Some("ABC123DEFG".into()),
        private_key: Some(
            fixtures()
                .join("AuthKey_ABC123DEFG.p8")
                .display()
                .to_string()
                .into(),
        ),
        client_id: Some(WEB.into()),
        bundle_ids: Some(vec![IOS.into()]),
        redirect_uri: Some(format!("{public}/auth/apple/callback")),
        public_url: Some(public.to_owned()),
        database_url: Some(db.url.clone()),
        apple_base_url: Some(apple.to_owned()),
        session_key: Some(keys.0.clone().into()),
        encryption_key: Some(keys.1.clone().into()),
        deletion_retry_secs: Some(1),
        apple_timeout_secs: Some(2),
        ..RawSettings::default()
    }
}

/// A service's state on `raw`, its store seen through `wrap`; and that store.
async fn service_state(
    raw: RawSettings,
    wrap: impl Fn(Arc<dyn Store>) -> Arc<dyn Store>,
    clock: Arc<ManualClock>,
) -> (Arc<AppState>, Arc<dyn Store>) {
    let settings = Settings::load(raw).unwrap();
    let store = siwa_server::store::connect(&settings.database_url)
        .await
        .unwrap();
    let store: Arc<dyn Store> = wrap(Arc::from(store));
    let state =
        AppState::with_clock(settings, Arc::clone(&store), clock as Arc<dyn Clock>).unwrap();
    (Arc::new(state), store)
}

/// The service alone on a fresh database, driven through `router()` with
/// `oneshot`: no socket, so no client address (every request comes from one
/// unknown client), and no Apple (a call to Apple finds nobody).
pub(crate) struct Service {
    state: Arc<AppState>,
    db: Database,
}

impl Service {
    pub(crate) async fn start(backend: Backend, tweak: impl Fn(&mut RawSettings)) -> Self {
        let db = Database::new(backend).await;
        let mut raw = raw_settings(NOBODY, NOBODY, &db, &shared_keys());
        tweak(&mut raw);
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let (state, _) = service_state(raw, |store| store, clock).await;
        Self { state, db }
    }

    /// Its database's URL (to look behind the service, or damage it).
    pub(crate) fn database_url(&self) -> &str {
        &self.db.url
    }

    /// One request through the routes.
    pub(crate) async fn send(&self, request: http::Request<Body>) -> Response {
        siwa_server::router(Arc::clone(&self.state))
            .oneshot(request)
            .await
            .unwrap()
    }

    pub(crate) async fn get(&self, path: &str) -> Response {
        self.send(http::Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    pub(crate) async fn post_json(&self, path: &str, body: &serde_json::Value) -> Response {
        let request = http::Request::post(path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(request).await
    }
}

/// A browser: a cookie jar keyed by nothing but name (one site), no redirects followed.
pub(crate) struct Browser {
    pub(crate) http: reqwest::Client,
    pub(crate) cookies: HashMap<String, String>,
}

/// What a browser saw after a sign-in attempt.
#[derive(Debug)]
pub(crate) struct Landing {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) body: String,
}

impl Browser {
    pub(crate) fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .unwrap();
        Self {
            http,
            cookies: HashMap::new(),
        }
    }

    pub(crate) fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(crate) fn keep_cookies(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    pub(crate) async fn get(&mut self, url: &str) -> reqwest::Response {
        let response = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep_cookies(&response);
        response
    }

    /// Starts a sign-in at the service; the URL of Apple's authorize page.
    pub(crate) async fn start_sign_in(&mut self, server: &str, return_to: &str) -> String {
        let response = self
            .get(&format!(
                "{server}/auth/apple/login?return_to={}",
                urlencode(return_to)
            ))
            .await;
        assert_eq!(response.status(), 302, "{:?}", response.text().await);
        response.headers()["location"].to_str().unwrap().to_owned()
    }

    /// Consents on the emulator (scripted): the fields Apple form_posts.
    pub(crate) async fn consent(&self, authorize_url: &str, user: &str) -> Vec<(String, String)> {
        let url = format!("{authorize_url}&emulator_user={user}&emulator_consent=share");
        let html = self
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        hidden_fields(&html)
    }

    /// Apple's cross-site form_post: no cookies are sent with it (SameSite=Lax),
    /// so the service answers with a re-post page; the browser then re-posts
    /// from the service's own origin, with its cookies.
    pub(crate) async fn form_post(&mut self, server: &str, fields: &[(String, String)]) -> Landing {
        let url = format!("{server}/auth/apple/callback");
        let first = self.http.post(&url).form(fields).send().await.unwrap();
        let status = first.status().as_u16();
        let html = first.text().await.unwrap();
        if status != 200 || !html.contains("_siwa_repost") {
            return Landing {
                status,
                location: None,
                body: html,
            };
        }
        let fields = hidden_fields(&html);
        let second = self
            .http
            .post(&url)
            .header("cookie", self.cookie_header())
            .form(&fields)
            .send()
            .await
            .unwrap();
        self.keep_cookies(&second);
        Landing {
            status: second.status().as_u16(),
            location: second
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned()),
            body: second.text().await.unwrap(),
        }
    }

    /// The whole web sign-in.
    pub(crate) async fn sign_in(&mut self, server: &str, user: &str) -> Landing {
        let authorize = self.start_sign_in(server, "/").await;
        let fields = self.consent(&authorize, user).await;
        self.form_post(server, &fields).await
    }

    /// `GET /me` with the session cookie.
    pub(crate) async fn me(&mut self, server: &str) -> (u16, serde_json::Value) {
        let response = self.get(&format!("{server}/me")).await;
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }
}

pub(crate) fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Hidden inputs of an HTML form, in order.
pub(crate) fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    for tag in html.split("<input").skip(1) {
        let tag = &tag[..tag.find('>').unwrap()];
        if !tag.contains(r#"type="hidden""#) {
            continue;
        }
        let attr = |name: &str| {
            let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
            let end = start + tag[start..].find('"')?;
            Some(
                tag[start..end]
                    .replace("&quot;", "\"")
                    .replace("&#39;", "'")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&"),
            )
        };
        if let (Some(name), Some(value)) = (attr("name"), attr("value")) {
            fields.push((name, value));
        }
    }
    fields
}

pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// SHA-256 hex, as an iOS app hashes its raw nonce.
pub(crate) fn sha256_hex(text: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
