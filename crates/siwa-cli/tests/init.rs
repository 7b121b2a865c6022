//! `siwa init`: the file it writes starts `siwa serve` with no edit, and a
//! sign-in through the emulator works with it; what it refuses (exit 2).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use siwa_emulator::{ConfigBuilder, Emulator, TeamBuilder, UserBuilder};

use crate::cli::{fixture, siwa, siwa_with, CLIENT, TEAM};

const IOS: &str = "com.example.ios";
/// The raw nonce an app keeps, and its SHA-256 (hex) the app gives Apple.
const RAW_NONCE: &str = "siwa-test-nonce";
const NONCE_HASH: &str = "a18ca2eddbf3a2913b0e8a2f70d1a2aa457702405e9c099d418f545612b1b047";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_then_serve_then_sign_in_through_the_emulator_with_no_edit() {
    let dir = scratch("flow");
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    // Apple, emulated: the team's key and the Services ID's return URL, as registered.
    let public_pem = std::fs::read_to_string(fixture("AuthKey_ABC123DEFG.pub.pem")).unwrap();
    let emulator = ConfigBuilder::new()
        .notification_url(format!("{public}/auth/apple/notifications"))
        .team(
            TeamBuilder::new(TEAM)
                .key_pem("ABC123DEFG", &public_pem)
                .client(CLIENT, [format!("{public}/auth/apple/callback")])
                .native_client(IOS),
        )
        .user(UserBuilder::alice())
        .build(Path::new("."))
        .unwrap();
    let apple = Emulator::new(emulator)
        .unwrap()
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();

    let config = dir.join("siwa.toml");
    let key = fixture("AuthKey_ABC123DEFG.p8");
    let run = siwa(&[
        "init",
        "--yes",
        "--team-id",
        TEAM,
        "--client-id",
        CLIENT,
        "--bundle-id",
        IOS,
        "--key",
        key.to_str().unwrap(),
        "--public-url",
        &public,
        "--apple-url",
        &apple.base_url(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for said in [
        format!("Return URLs:           {public}/auth/apple/callback"),
        format!("Server-to-Server Notification Endpoint: {public}/auth/apple/notifications"),
        format!("siwa serve --config {}", config.display()),
    ] {
        assert!(run.stdout.contains(&said), "{said:?} in\n{}", run.stdout);
    }
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(&dir.join("siwa-service-keys.json")), 0o600);

    // The command it printed, from another directory.
    let mut serve = Service::start(&config, &public).await;
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let me = web_sign_in(&http, &public).await;
    assert_eq!(me["email"], "alice@example.com", "{me}");
    assert_eq!(me["first_name"], "Alice", "{me}");

    // The bundle ID signs in natively too.
    let credential: Value = http
        .post(format!("{}/emulator/native", apple.base_url()))
        .json(&json!({"client_id": IOS, "user": "alice", "nonce": NONCE_HASH}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let native = http
        .post(format!("{public}/auth/apple/native"))
        .json(&json!({
            "identity_token": credential["identity_token"],
            "authorization_code": credential["authorization_code"],
            "nonce": RAW_NONCE,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(native.status(), 200);
    let session: Value = native.json().await.unwrap();
    assert_eq!(session["user"]["id"], me["id"], "the same user");
    serve.stop();
    apple.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_key_id_that_is_not_the_files_is_refused_and_nothing_is_written() {
    let dir = scratch("kid");
    let config = dir.join("siwa.toml");
    let run = init(&config, &["--key-id", "ZZZ999YYYX"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("header.kid") && run.stderr.contains("AuthKey_ABC123DEFG.p8"),
        "{}",
        run.stderr
    );
    assert!(!config.exists() && !dir.join("siwa-service-keys.json").exists());
    // A key whose file name carries no id needs --key-id.
    let renamed = dir.join("team.p8");
    std::fs::copy(fixture("AuthKey_ABC123DEFG.p8"), &renamed).unwrap();
    let run = siwa(&[
        "init",
        "--yes",
        "--team-id",
        TEAM,
        "--client-id",
        CLIENT,
        "--key",
        renamed.to_str().unwrap(),
        "--public-url",
        "https://login.example.com",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--key-id"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_existing_file_is_kept_without_force_and_replaced_with_it() {
    let dir = scratch("force");
    let config = dir.join("siwa.toml");
    std::fs::write(&config, "# mine\n").unwrap();
    let run = init(&config, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "# mine\n");
    assert!(
        !dir.join("siwa-service-keys.json").exists(),
        "nothing written"
    );

    let run = init(&config, &["--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(std::fs::read_to_string(&config)
        .unwrap()
        .contains("team_id = \"DEF123GHIJ\""));
    let keys = std::fs::read(dir.join("siwa-service-keys.json")).unwrap();
    // Again: the service keys (which seal the database) are kept.
    let run = init(&config, &["--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Kept"), "{}", run.stdout);
    assert_eq!(
        std::fs::read(dir.join("siwa-service-keys.json")).unwrap(),
        keys
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn without_yes_it_asks_for_what_the_flags_leave_out() {
    let dir = scratch("ask");
    let config = dir.join("siwa.toml");
    let key = fixture("AuthKey_ABC123DEFG.p8");
    // A bad Team ID is asked again; no bundle IDs; yes to writing.
    let answers = format!(
        "nope\n{TEAM}\n{CLIENT}\n\n{}\nhttps://login.example.com/\n\n",
        key.display()
    );
    let run = siwa_with(
        &["init", "--config", config.to_str().unwrap()],
        &[],
        Some(&answers),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("Team ID"), "{}", run.stderr);
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("public_url = \"https://login.example.com\""),
        "{text}"
    );
    assert!(text.contains("bundle_ids = []"), "{text}");
    assert!(text.contains("listen = \"127.0.0.1:8080\""), "{text}");
    // With --yes a missing value is an error, not a question.
    let run = siwa(&[
        "init",
        "--yes",
        "--config",
        dir.join("other.toml").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--team-id is missing"),
        "{}",
        run.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `siwa init --yes` with the test key's team and client, and `extra` flags.
fn init(config: &Path, extra: &[&str]) -> crate::cli::Run {
    let key = fixture("AuthKey_ABC123DEFG.p8");
    let mut args = vec![
        "init",
        "--yes",
        "--team-id",
        TEAM,
        "--client-id",
        CLIENT,
        "--key",
        key.to_str().unwrap(),
        "--public-url",
        "https://login.example.com",
        "--config",
        config.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    siwa(&args)
}

/// A browser's sign-in: the service, Apple's consent (scripted), Apple's
/// form_post (re-posted from our origin when needed), back signed in: `/me`.
async fn web_sign_in(http: &reqwest::Client, public: &str) -> Value {
    let login = http
        .get(format!("{public}/auth/apple/login?return_to=/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 302);
    let authorize = location(&login);
    let consent = http
        .get(format!(
            "{authorize}&emulator_user=alice&emulator_consent=share"
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (action, fields) = form(&consent);
    let mut answer = http.post(&action).form(&fields).send().await.unwrap();
    if answer.status() == 200 {
        let page = answer.text().await.unwrap();
        let (action, fields) = form(&page);
        answer = http
            .post(format!("{public}{action}"))
            .form(&fields)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(answer.status(), 303, "{:?}", answer.text().await);
    assert_eq!(location(&answer), format!("{public}/me"));
    let me = http.get(format!("{public}/me")).send().await.unwrap();
    assert_eq!(me.status(), 200);
    me.json().await.unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// A page's form: its action and hidden fields (values unescaped).
fn form(page: &str) -> (String, Vec<(String, String)>) {
    let attribute = |tag: &str, name: &str| {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        Some(unescape(&tag[start..start + tag[start..].find('"')?]))
    };
    let mut action = None;
    let mut fields = Vec::new();
    for tag in page.split('<').map(|t| t.split('>').next().unwrap_or("")) {
        if tag.starts_with("form ") {
            action = attribute(tag, "action");
        }
        if tag.starts_with("input ") && tag.contains("type=\"hidden\"") {
            fields.push((
                attribute(tag, "name").unwrap(),
                attribute(tag, "value").unwrap_or_default(),
            ));
        }
    }
    (
        action.unwrap_or_else(|| panic!("no form in {page}")),
        fields,
    )
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `siwa serve --config FILE`, started from another directory, stopped on drop.
struct Service(Child);

impl Service {
    async fn start(config: &Path, public: &str) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_siwa"));
        command
            .args(["serve", "--config", config.to_str().unwrap()])
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SIWA_")) {
            command.env_remove(key);
        }
        let mut service = Self(command.env("SIWA_LOG", "warn").spawn().unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        let healthz = format!("{public}/healthz");
        loop {
            if let Ok(response) = reqwest::get(&healthz).await {
                if response.status() == 200 {
                    return service;
                }
            }
            if let Ok(Some(status)) = service.0.try_wait() {
                panic!("siwa serve exited: {status}");
            }
            assert!(Instant::now() < deadline, "siwa serve did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("siwa-init-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
