//! `siwa doctor --config FILE [--probe]`: a deployment checked before it goes
//! live. A correct configuration passes against the emulator and a running
//! service (both in this process, on free ports); every check fails, with its
//! hint, on a configuration that is wrong in its one way.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use siwa_emulator::{ConfigBuilder, Emulator, RunningEmulator, TeamBuilder, UserBuilder};
use siwa_server::{RawSettings, RunningServer, Settings};

use crate::cli::{fixture, siwa_with, Run, CLIENT, TEAM};

const IOS: &str = "com.example.ios";
const KEY_ID: &str = "ABC123DEFG";

/// The emulator and `siwa serve` of one configuration, on their own runtime.
struct Deployment {
    dir: Scratch,
    apple: String,
    public: String,
    _server: RunningServer,
    _apple: RunningEmulator,
    _runtime: tokio::runtime::Runtime,
}

impl Deployment {
    /// An emulator that knows the team's key, its Services ID and app, and
    /// the service on SQLite started from [`Self::settings`], as `siwa serve` would.
    fn start(name: &str) -> Self {
        let dir = scratch(name);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let public = format!("http://{}", listener.local_addr().unwrap());
        let config = ConfigBuilder::new()
            .notification_url(format!("{public}/auth/apple/notifications"))
            .team(
                TeamBuilder::new(TEAM)
                    .key_file(KEY_ID, "AuthKey_ABC123DEFG.pub.pem")
                    .client(CLIENT, [format!("{public}/auth/apple/callback")])
                    .native_client(IOS),
            )
            .user(UserBuilder::alice())
            .build(&fixture(""))
            .unwrap();
        let apple_running = runtime
            .block_on(
                Emulator::new(config)
                    .unwrap()
                    .start("127.0.0.1:0".parse().unwrap()),
            )
            .unwrap();
        let apple = apple_running.base_url();
        let mut deployment_settings = settings(&dir, &public, &apple);
        deployment_settings.insert("bundle_ids", format!("[\"{IOS}\"]"));
        let path = write_config(&dir, &deployment_settings);
        let server = runtime.block_on(async {
            let raw = RawSettings::from_file(&path).unwrap();
            let state = siwa_server::prepare(Settings::load(raw).unwrap())
                .await
                .unwrap();
            siwa_server::start_on(Arc::clone(&state), listener).unwrap()
        });
        Self {
            dir,
            apple,
            public,
            _server: server,
            _apple: apple_running,
            _runtime: runtime,
        }
    }

    /// The settings the service runs with.
    fn settings(&self) -> BTreeMap<&'static str, String> {
        let mut settings = settings(&self.dir, &self.public, &self.apple);
        settings.insert("bundle_ids", format!("[\"{IOS}\"]"));
        settings
    }
}

#[test]
fn a_correct_deployment_passes_with_probe() {
    let deployment = Deployment::start("correct");
    let config = write_config(&deployment.dir, &deployment.settings());
    let (run, report) = doctor(&config, &["--probe"]);
    assert_eq!(run.code, 0, "{report:#}");
    assert_eq!(report["ok"], true);
    for id in [
        "key_file",
        "popup_redirect_uris",
        "service_keys",
        "database",
        "apple.secret:com.example.web",
        "apple.secret:com.example.ios",
        "clock",
        "notifications",
    ] {
        assert_eq!(check(&report, id)["status"], "pass", "{report:#}");
    }
    // Loopback http: right for the emulator, a warning for a deployment.
    for id in ["public_url", "redirect_uri"] {
        let found = check(&report, id);
        assert_eq!(found["status"], "warn", "{found}");
        assert!(found["hint"].as_str().unwrap().contains("https"), "{found}");
    }
    let secret = check(&report, "apple.secret:com.example.ios")["message"]
        .as_str()
        .unwrap();
    assert!(secret.contains("/auth/token"), "{secret}");
    assert_no_secrets(&run);

    // The checklist, and without --probe the network checks are skipped, not failed.
    let run = siwa_with(&["doctor", "--config", config.to_str().unwrap()], &[], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("deployment preflight"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("skipped: run with --probe"),
        "{}",
        run.stdout
    );
    let (_, report) = doctor(&config, &[]);
    for id in ["apple.secret:com.example.web", "clock", "notifications"] {
        assert_eq!(check(&report, id)["status"], "skip", "{report:#}");
    }
}

#[test]
fn key_file_fails_for_another_key_id_or_public_key() {
    let dir = scratch("key-file");
    let mut settings = offline_settings(&dir);
    settings.insert("key_id", "\"ZZZ999YYYX\"".into());
    let (run, report) = doctor(&write_config(&dir, &settings), &[]);
    assert_eq!(run.code, 1, "{report:#}");
    let found = failed(&report, "key_file");
    assert!(
        found["message"]
            .as_str()
            .unwrap()
            .contains("Key ID ABC123DEFG"),
        "{found}"
    );
    assert!(
        found["hint"]
            .as_str()
            .unwrap()
            .contains("AuthKey_ZZZ999YYYX.p8"),
        "{found}"
    );

    // The other team key, checked against the public key Apple has for key_id.
    let mut settings = offline_settings(&dir);
    settings.insert("key_id", "\"ZZZ999YYYX\"".into());
    settings.insert("private_key", toml_path(&fixture("AuthKey_ZZZ999YYYX.p8")));
    let public = fixture("AuthKey_ABC123DEFG.pub.pem");
    let (run, report) = doctor(
        &write_config(&dir, &settings),
        &["--public-key", public.to_str().unwrap()],
    );
    assert_eq!(run.code, 1);
    let found = failed(&report, "key_file");
    assert!(
        found["hint"].as_str().unwrap().contains("siwa pubkey"),
        "{found}"
    );
    assert_no_secrets(&run);
}

#[test]
fn public_url_over_http_warns_on_loopback_and_is_refused_elsewhere() {
    let dir = scratch("public-url");
    let (_, report) = doctor(&write_config(&dir, &offline_settings(&dir)), &[]);
    let found = check(&report, "public_url");
    assert_eq!(found["status"], "warn");
    assert!(found["hint"].as_str().unwrap().contains("https"), "{found}");

    // Plain http elsewhere is refused by the service's loader: a configuration error.
    let mut settings = offline_settings(&dir);
    settings.insert("public_url", "\"http://login.example.com\"".into());
    let run = siwa_with(
        &[
            "doctor",
            "--config",
            write_config(&dir, &settings).to_str().unwrap(),
        ],
        &[],
        None,
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("public_url"), "{}", run.stderr);
    assert!(run.stderr.contains("not https"), "{}", run.stderr);
}

#[test]
fn redirect_uri_fails_when_it_is_not_this_services_callback() {
    let dir = scratch("redirect");
    let mut settings = offline_settings(&dir);
    settings.insert(
        "web",
        "[{ client_id = \"com.example.web2\", redirect_uri = \"https://other.example.com/auth/apple/callback\" }]"
            .into(),
    );
    let (run, report) = doctor(&write_config(&dir, &settings), &[]);
    assert_eq!(run.code, 1, "{report:#}");
    let found = failed(&report, "redirect_uri");
    let message = found["message"].as_str().unwrap();
    assert!(
        message.contains("web[0].redirect_uri of com.example.web2"),
        "{message}"
    );
    assert!(
        !message.contains("com.example.web is"),
        "the primary is right: {message}"
    );
    assert!(
        found["hint"]
            .as_str()
            .unwrap()
            .contains("http://127.0.0.1:9/auth/apple/callback"),
        "{found}"
    );
}

#[test]
fn popup_redirect_uris_fail_for_a_page_that_may_not_call_the_service() {
    let dir = scratch("popup");
    let mut settings = offline_settings(&dir);
    settings.insert(
        "popup_redirect_uris",
        "[\"https://app.example.com/signin\"]".into(),
    );
    let (run, report) = doctor(&write_config(&dir, &settings), &[]);
    assert_eq!(run.code, 1, "{report:#}");
    let found = failed(&report, "popup_redirect_uris");
    assert!(
        found["hint"]
            .as_str()
            .unwrap()
            .contains("allowed_web_origins"),
        "{found}"
    );
    // Listing the page's origin fixes it.
    settings.insert(
        "allowed_web_origins",
        "[\"https://app.example.com\"]".into(),
    );
    let (_, report) = doctor(&write_config(&dir, &settings), &[]);
    assert_eq!(check(&report, "popup_redirect_uris")["status"], "pass");
}

#[test]
fn postgres_without_service_keys_and_an_unreachable_database_fail() {
    let dir = scratch("postgres");
    let mut settings = offline_settings(&dir);
    settings.insert(
        "database_url",
        "\"postgres://siwa:hunter2@127.0.0.1:1/siwa\"".into(),
    );
    let (run, report) = doctor(&write_config(&dir, &settings), &[]);
    // A failed check (exit 1), not the service's refusal to start (exit 2).
    assert_eq!(run.code, 1, "{run:?}");
    let keys = failed(&report, "service_keys");
    assert!(
        keys["hint"]
            .as_str()
            .unwrap()
            .contains("siwa serve --print-new-keys"),
        "{keys}"
    );
    let database = failed(&report, "database");
    let message = database["message"].as_str().unwrap();
    assert!(message.contains("siwa:***@127.0.0.1:1"), "{message}");
    assert!(
        database["hint"].as_str().unwrap().contains("database_url"),
        "{database}"
    );
    assert!(!run.stdout.contains("hunter2"), "{}", run.stdout);
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
    // No key file was written (nor anything else).
    assert_eq!(
        std::fs::read_dir(&*dir).unwrap().count(),
        1,
        "only the config"
    );
}

#[test]
fn database_fails_when_a_newer_siwa_migrated_it() {
    let dir = scratch("database");
    let settings = offline_settings(&dir);
    let url = format!("sqlite://{}", dir.join("siwa.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        drop(siwa_server::store::connect(&url).await.unwrap());
    });
    let config = write_config(&dir, &settings);
    let (_, report) = doctor(&config, &[]);
    assert_eq!(check(&report, "database")["status"], "pass", "{report:#}");

    runtime.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (29991231000000, 'from the future', TRUE, X'00', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    });
    let (run, report) = doctor(&config, &[]);
    assert_eq!(run.code, 1, "{report:#}");
    let found = failed(&report, "database");
    assert!(
        found["message"]
            .as_str()
            .unwrap()
            .contains("29991231000000"),
        "{found}"
    );
    assert!(
        found["hint"].as_str().unwrap().contains("release"),
        "{found}"
    );
}

#[test]
fn apple_secret_fails_for_a_client_id_apple_does_not_know() {
    let deployment = Deployment::start("apple-secret");
    let mut settings = deployment.settings();
    settings.insert(
        "bundle_ids",
        format!("[\"{IOS}\", \"com.example.unknown\"]"),
    );
    let (run, report) = doctor(&write_config(&deployment.dir, &settings), &["--probe"]);
    assert_eq!(run.code, 1, "{report:#}");
    assert_eq!(
        check(&report, "apple.secret:com.example.ios")["status"],
        "pass"
    );
    let found = failed(&report, "apple.secret:com.example.unknown");
    assert!(
        found["message"]
            .as_str()
            .unwrap()
            .contains("invalid_client"),
        "{found}"
    );
    assert!(
        found["hint"]
            .as_str()
            .unwrap()
            .contains("configured for Sign in with Apple"),
        "{found}"
    );
    assert_no_secrets(&run);
}

#[test]
fn clock_fails_when_apples_date_is_far_off() {
    let apple = StaleApple::start();
    let dir = scratch("clock");
    let mut settings = offline_settings(&dir);
    settings.insert("apple_base_url", format!("\"{}\"", apple.base));
    let (_, report) = doctor(&write_config(&dir, &settings), &["--probe"]);
    assert_eq!(
        check(&report, "apple.secret:com.example.web")["status"],
        "pass",
        "{report:#}"
    );
    let found = failed(&report, "clock");
    assert!(
        found["message"]
            .as_str()
            .unwrap()
            .contains("ahead of Apple's"),
        "{found}"
    );
    assert!(found["hint"].as_str().unwrap().contains("NTP"), "{found}");
}

#[test]
fn notifications_fail_when_the_service_is_not_at_its_public_url() {
    let deployment = Deployment::start("notifications");
    // Nothing listens there.
    let mut settings = offline_settings(&deployment.dir);
    settings.insert("apple_base_url", format!("\"{}\"", deployment.apple));
    let (run, report) = doctor(&write_config(&deployment.dir, &settings), &["--probe"]);
    assert_eq!(run.code, 1, "{report:#}");
    let found = failed(&report, "notifications");
    assert!(
        found["message"].as_str().unwrap().contains("cannot reach"),
        "{found}"
    );
    assert!(
        found["hint"]
            .as_str()
            .unwrap()
            .contains("start the service"),
        "{found}"
    );
    // Something else answers there (the emulator: 404).
    let mut settings = deployment.settings();
    settings.insert("public_url", format!("\"{}\"", deployment.apple));
    settings.insert(
        "redirect_uri",
        format!("\"{}/auth/apple/callback\"", deployment.apple),
    );
    let (_, report) = doctor(&write_config(&deployment.dir, &settings), &["--probe"]);
    let found = failed(&report, "notifications");
    assert!(
        found["message"].as_str().unwrap().contains("404"),
        "{found}"
    );
    assert!(
        found["hint"]
            .as_str()
            .unwrap()
            .contains("/auth/apple/notifications"),
        "{found}"
    );
}

#[test]
fn an_unreadable_configuration_is_exit_2_with_the_services_message() {
    let dir = scratch("unreadable");
    let missing = dir.join("missing.toml");
    let run = siwa_with(
        &["doctor", "--config", missing.to_str().unwrap()],
        &[],
        None,
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("cannot read it"), "{}", run.stderr);

    let mut settings = offline_settings(&dir);
    settings.insert("colour", "\"blue\"".into());
    let run = siwa_with(
        &[
            "doctor",
            "--config",
            write_config(&dir, &settings).to_str().unwrap(),
        ],
        &[],
        None,
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("unknown field"), "{}", run.stderr);

    // A token and --config are two different doctors.
    let run = siwa_with(&["doctor", "x.y.z", "--config", "siwa.toml"], &[], None);
    assert_eq!(run.code, 2, "{run:?}");
}

// ---------------------------------------------------------------- helpers

/// `siwa doctor --config FILE --json ARGS`: the run and its report.
fn doctor(config: &Path, args: &[&str]) -> (Run, Value) {
    let mut all = vec!["doctor", "--json", "--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    let run = siwa_with(&all, &[], None);
    let report = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"));
    (run, report)
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {report:#}"))
}

/// The check, which must have failed with a hint.
fn failed<'a>(report: &'a Value, id: &str) -> &'a Value {
    let found = check(report, id);
    assert_eq!(found["status"], "fail", "{report:#}");
    assert_eq!(report["ok"], false);
    assert!(!found["hint"].as_str().unwrap().is_empty(), "{found}");
    found
}

fn assert_no_secrets(run: &Run) {
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        assert!(!text.contains("eyJ"), "no JWT: {text}");
    }
}

/// A fresh directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("siwa-preflight-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// A deployment's settings as TOML values, by key.
fn settings(dir: &Path, public: &str, apple: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("team_id", format!("\"{TEAM}\"")),
        ("key_id", format!("\"{KEY_ID}\"")),
        ("private_key", toml_path(&fixture("AuthKey_ABC123DEFG.p8"))),
        ("client_id", format!("\"{CLIENT}\"")),
        ("redirect_uri", format!("\"{public}/auth/apple/callback\"")),
        ("public_url", format!("\"{public}\"")),
        (
            "database_url",
            format!("\"sqlite://{}\"", dir.join("siwa.db").display()),
        ),
        ("apple_base_url", format!("\"{apple}\"")),
    ])
}

/// Settings of a service nobody runs, at the discard port.
fn offline_settings(dir: &Path) -> BTreeMap<&'static str, String> {
    settings(dir, "http://127.0.0.1:9", "http://127.0.0.1:9")
}

fn toml_path(path: &Path) -> String {
    format!("\"{}\"", path.display())
}

/// Writes `siwa.toml` in `dir` (arrays of tables, `web`, last).
fn write_config(dir: &Path, settings: &BTreeMap<&'static str, String>) -> PathBuf {
    let mut text = String::new();
    for (key, value) in settings.iter().filter(|(k, _)| **k != "web") {
        text.push_str(&format!("{key} = {value}\n"));
    }
    if let Some(web) = settings.get("web") {
        text.push_str(&format!("web = {web}\n"));
    }
    let path = dir.join("siwa.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A stand-in for Apple whose clock is years behind: it answers every
/// request `invalid_grant` (the probe's verdict: accepted) with that `Date`.
struct StaleApple {
    base: String,
}

impl StaleApple {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                read_request(&mut stream);
                let body = r#"{"error":"invalid_grant"}"#;
                let _ = write!(
                    stream,
                    "HTTP/1.1 400 Bad Request\r\nDate: Thu, 01 Jan 2015 00:00:00 GMT\r\n\
                     Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { base }
    }
}

/// Reads a request's head and its `Content-Length` bytes of body.
fn read_request(stream: &mut std::net::TcpStream) {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = stream.read(&mut chunk) else {
            return;
        };
        if n == 0 {
            return;
        }
        seen.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if seen.len() >= end + 4 + length {
                return;
            }
        }
    }
}
