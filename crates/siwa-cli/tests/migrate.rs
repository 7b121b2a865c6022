//! Team transfer rehearsed end to end (issue 13): 1,000 users sign in under
//! team A; `siwa migrate export` (killed once mid-way, then run again); the
//! app moves to team B at the emulator; the service restarts with team B's
//! key; half the users sign in before `siwa migrate import`, half after.
//! Every user keeps their account, name and email; no account is made. On
//! SQLite, and on PostgreSQL when `SIWA_TEST_DATABASE_URL` is set.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use siwa_emulator::{ConfigBuilder, Emulator, RunningEmulator, TeamBuilder, UserBuilder};
use siwa_kit::clock::{Clock, SystemClock};

use crate::cli::fixture;

const TEAM_A: &str = "DEF123GHIJ";
const KEY_A: &str = "ABC123DEFG";
const TEAM_B: &str = "OTHER12345";
const KEY_B: &str = "ZZZ999YYYX";
const IOS: &str = "com.example.ios";
const WEB: &str = "com.example.web";
const USERS: usize = 1_000;
/// The app's raw nonce, and its SHA-256 in hex as the app hands it to Apple.
const RAW_NONCE: &str = "siwa-test-nonce";
const NONCE_HASH: &str = "a18ca2eddbf3a2913b0e8a2f70d1a2aa457702405e9c099d418f545612b1b047";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_users_keep_their_accounts_through_a_team_transfer_on_sqlite() {
    let rehearsal = Rehearsal::new(Backend::Sqlite, USERS).await;
    rehearsal.run().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_users_keep_their_accounts_through_a_team_transfer_on_postgres() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let rehearsal = Rehearsal::new(backend, USERS).await;
    rehearsal.run().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_sub_past_its_window_is_reported_failed_not_skipped() {
    let rehearsal = Rehearsal::new(Backend::Sqlite, 3).await;
    rehearsal
        .sign_in_all(&rehearsal.service(TEAM_A).await, 0..3)
        .await;
    let (code, out, _) = rehearsal
        .migrate(&["export", "--target-team", TEAM_B], TEAM_A)
        .await;
    assert_eq!(code, 0, "{out}");
    // The app moved 61 days ago: the receiving team comes too late.
    let moved = rehearsal
        .http
        .post(format!("{}/emulator/transfer", rehearsal.apple.base_url()))
        .json(&json!({"client_id": IOS, "to_team": TEAM_B, "at": now() - 61 * 86_400}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 200);
    let (code, out, err) = rehearsal.migrate(&["import"], TEAM_B).await;
    assert_eq!(code, 1, "some identities failed: {out} {err}");
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        summary,
        json!({"total": 3, "done": 0, "skipped": 0, "failed": 3})
    );
    assert!(err.contains("60-day"), "the reason is given: {err}");
    // Nothing was relinked: the identities are still the sending team's.
    assert_eq!(
        rehearsal
            .count("SELECT COUNT(*) FROM apple_identities WHERE team_id = 'DEF123GHIJ'")
            .await,
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_refuses_a_target_that_is_the_sending_team_and_a_bad_team_id() {
    let rehearsal = Rehearsal::new(Backend::Sqlite, 1).await;
    let (code, _, err) = rehearsal
        .migrate(&["export", "--target-team", TEAM_A], TEAM_A)
        .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is the sending team itself"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    let (code, _, err) = rehearsal
        .migrate(&["export", "--target-team", "not-a-team"], TEAM_A)
        .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--target-team"), "{err}");
    // A dry run counts, calls nothing, writes nothing.
    let service = rehearsal.service(TEAM_A).await;
    rehearsal.sign_in_all(&service, 0..1).await;
    service.stop().await;
    let (code, out, err) = rehearsal
        .migrate(&["export", "--target-team", TEAM_B, "--dry-run"], TEAM_A)
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"total": 1, "done": 0, "skipped": 0, "failed": 0})
    );
    assert_eq!(rehearsal.apple_requests("/auth/usermigrationinfo").await, 0);
    assert_eq!(
        rehearsal
            .count("SELECT COUNT(*) FROM apple_identities WHERE transfer_sub IS NOT NULL")
            .await,
        0
    );
    // Exported; the receiving team imports before the app has moved: Apple
    // refuses its client secret (the app is not its yet), and the run stops.
    let (code, out, err) = rehearsal
        .migrate(&["export", "--target-team", TEAM_B], TEAM_A)
        .await;
    assert_eq!(code, 0, "{out} {err}");
    let (code, _, err) = rehearsal.migrate(&["import"], TEAM_B).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("invalid_client"), "{err}");
    assert!(err.contains("receiving team"), "{err}");
}

/// Where the service keeps its data.
enum Backend {
    Sqlite,
    Postgres { base: String, schema: String },
}

impl Backend {
    async fn postgres() -> Option<Self> {
        let Some(base) = std::env::var("SIWA_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            eprintln!("skipping the PostgreSQL team transfer: SIWA_TEST_DATABASE_URL is not set");
            return None;
        };
        let schema = format!("siwa_transfer_{}", std::process::id());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
            .await
            .unwrap();
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .unwrap();
        Some(Self::Postgres { base, schema })
    }
}

/// An emulator with two teams and `users` users, a scratch directory with
/// each team's service configuration, and the database they share.
struct Rehearsal {
    apple: RunningEmulator,
    dir: PathBuf,
    database_url: String,
    backend: Backend,
    http: reqwest::Client,
    users: usize,
}

impl Rehearsal {
    async fn new(backend: Backend, users: usize) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "siwa-transfer-{}-{}",
            std::process::id(),
            random_hex()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let config = ConfigBuilder::new()
            .team(
                TeamBuilder::new(TEAM_A)
                    .key_file(KEY_A, "AuthKey_ABC123DEFG.pub.pem")
                    .native_client(IOS)
                    .client(WEB, ["http://127.0.0.1:1/auth/apple/callback"]),
            )
            .team(TeamBuilder::new(TEAM_B).key_file(KEY_B, "AuthKey_ZZZ999YYYX.p8"))
            .users((0..users).map(|i| {
                UserBuilder::new(format!("u{i:04}"), format!("u{i:04}@example.com"))
                    .name(format!("First{i}"), format!("Last{i}"))
            }))
            .build(&fixture(""))
            .unwrap();
        // The system clock, as the CLI's client secrets use it.
        let apple = Emulator::new(config)
            .unwrap()
            .start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let database_url = match &backend {
            Backend::Sqlite => format!("sqlite://{}", dir.join("siwa.db").display()),
            Backend::Postgres { base, schema } => {
                let sep = if base.contains('?') { '&' } else { '?' };
                format!("{base}{sep}options=-c%20search_path%3D{schema}")
            }
        };
        let (session_key, encryption_key) = siwa_server::ServiceKeys::new_settings().unwrap();
        for (team, key_id) in [(TEAM_A, KEY_A), (TEAM_B, KEY_B)] {
            let toml = format!(
                r#"team_id = "{team}"
key_id = "{key_id}"
private_key = "{key}"
client_id = "{WEB}"
bundle_ids = ["{IOS}"]
redirect_uri = "http://127.0.0.1:1/auth/apple/callback"
public_url = "http://127.0.0.1:1"
database_url = "{database_url}"
apple_base_url = "{apple}"
rate_limit_per_ip_per_minute = 0
rate_limit_global_per_second = 0
session_key = '''
{session}'''
encryption_key = "{encryption}"
"#,
                key = fixture(&format!("AuthKey_{key_id}.p8")).display(),
                apple = apple.base_url(),
                session = session_key.as_str(),
                encryption = encryption_key.as_str(),
            );
            std::fs::write(dir.join(format!("{team}.toml")), toml).unwrap();
        }
        Self {
            apple,
            dir,
            database_url,
            backend,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            users,
        }
    }

    fn config(&self, team: &str) -> PathBuf {
        self.dir.join(format!("{team}.toml"))
    }

    /// The service, as `siwa serve --config` would run it for `team`.
    async fn service(&self, team: &str) -> siwa_server::RunningServer {
        let raw = siwa_server::RawSettings::from_file(&self.config(team)).unwrap();
        let settings = siwa_server::Settings::load(raw).unwrap();
        let state = siwa_server::prepare(settings).await.unwrap();
        siwa_server::start(state, "127.0.0.1:0").await.unwrap()
    }

    /// Native sign-ins of users `range`, 16 at a time: their user objects.
    async fn sign_in_all(
        &self,
        service: &siwa_server::RunningServer,
        range: std::ops::Range<usize>,
    ) -> Vec<Value> {
        let base = service.base_url();
        let mut users = Vec::new();
        let indices: Vec<usize> = range.collect();
        for chunk in indices.chunks(16) {
            let mut tasks = tokio::task::JoinSet::new();
            for &i in chunk {
                let (http, apple, base) = (self.http.clone(), self.apple.base_url(), base.clone());
                tasks.spawn(async move { (i, native_sign_in(&http, &apple, &base, i).await) });
            }
            let mut done = tasks.join_all().await;
            done.sort_by_key(|(i, _)| *i);
            users.extend(done.into_iter().map(|(_, user)| user));
        }
        users
    }

    /// `siwa migrate ARGS --config TEAM.toml --json --per-second 2000`: exit code, stdout, stderr.
    async fn migrate(&self, args: &[&str], team: &str) -> (i32, String, String) {
        let output = self.migrate_command(args, team).output().unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn migrate_command(&self, args: &[&str], team: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_siwa"));
        command
            .arg("migrate")
            .args(&args[..1])
            .args(["--config", self.config(team).to_str().unwrap()])
            .args(&args[1..])
            .args(["--json", "--per-second", "2000"])
            .env("SIWA_LOG", "warn")
            .stdin(Stdio::null());
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SIWA_")) {
            command.env_remove(key);
        }
        command.env("SIWA_LOG", "warn");
        command
    }

    async fn count(&self, sql: &str) -> i64 {
        match &self.backend {
            Backend::Sqlite => {
                let mut conn =
                    <sqlx::SqliteConnection as sqlx::Connection>::connect(&self.database_url)
                        .await
                        .unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
            }
            Backend::Postgres { .. } => {
                let mut conn =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&self.database_url)
                        .await
                        .unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
            }
        }
    }

    async fn apple_requests(&self, route: &str) -> u64 {
        let stats: Value = self
            .http
            .get(format!("{}/emulator/stats", self.apple.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stats["requests"][route].as_u64().unwrap_or(0)
    }

    async fn run(&self) {
        let half = self.users / 2;
        // Team A: every user signs in (the first sign-in brings the name).
        let service = self.service(TEAM_A).await;
        let before = self.sign_in_all(&service, 0..self.users).await;
        service.stop().await;

        // The export, killed once mid-way, then run again to its end.
        let mut child = self
            .migrate_command(&["export", "--target-team", TEAM_B], TEAM_A)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let exported = "SELECT COUNT(*) FROM apple_identities WHERE transfer_sub IS NOT NULL";
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let done = self.count(exported).await;
            if done >= (self.users / 3) as i64 {
                break;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "the export ended before the kill"
            );
            assert!(Instant::now() < deadline, "the export made no progress");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let at_kill = self.count(exported).await;
        assert!(at_kill < self.users as i64, "killed mid-way: {at_kill}");
        let (code, out, err) = self
            .migrate(&["export", "--target-team", TEAM_B], TEAM_A)
            .await;
        assert_eq!(code, 0, "{out} {err}");
        let summary: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(summary["total"], self.users);
        assert_eq!(summary["failed"], 0);
        assert_eq!(
            summary["skipped"].as_i64().unwrap() + summary["done"].as_i64().unwrap(),
            self.users as i64,
            "nothing missed: {summary}"
        );
        assert!(summary["skipped"].as_i64().unwrap() >= at_kill, "{summary}");
        assert_eq!(self.count(exported).await, self.users as i64);
        let asked = self.apple_requests("/auth/usermigrationinfo").await;
        assert!(
            asked <= self.users as u64 + 1,
            "nothing asked twice (but the one in flight at the kill): {asked}"
        );

        // The app moves; the service restarts with team B's key.
        let moved = self
            .http
            .post(format!("{}/emulator/transfer", self.apple.base_url()))
            .json(&json!({"client_id": IOS, "to_team": TEAM_B}))
            .send()
            .await
            .unwrap();
        assert_eq!(moved.status(), 200);
        let service = self.service(TEAM_B).await;
        // Half sign in before the import: relinked by their sign-in.
        let early = self.sign_in_all(&service, 0..half).await;
        let (code, out, err) = self.migrate(&["import"], TEAM_B).await;
        assert_eq!(code, 0, "{out} {err}");
        let summary: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            summary,
            json!({"total": self.users, "done": self.users - half, "skipped": half, "failed": 0})
        );
        // The other half after it.
        let late = self.sign_in_all(&service, half..self.users).await;
        service.stop().await;

        for (i, after) in early.iter().chain(&late).enumerate() {
            let was = &before[i];
            assert_eq!(after["id"], was["id"], "user {i} kept their account");
            assert_eq!(after["first_name"], format!("First{i}"));
            assert_eq!(after["last_name"], format!("Last{i}"));
            assert_eq!(after["email"], was["email"]);
        }
        assert_eq!(
            self.count("SELECT COUNT(*) FROM users").await,
            self.users as i64,
            "0 new accounts"
        );
        assert_eq!(
            self.count("SELECT COUNT(*) FROM apple_identities WHERE team_id = 'OTHER12345'")
                .await,
            self.users as i64
        );
    }
}

impl Drop for Rehearsal {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Backend::Postgres { base, schema } = &self.backend {
            let (base, schema) = (base.clone(), schema.clone());
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Runtime::new().unwrap();
                runtime.block_on(async {
                    if let Ok(mut conn) =
                        <sqlx::PgConnection as sqlx::Connection>::connect(&base).await
                    {
                        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                            .execute(&mut conn)
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A native sign-in of user `i`: the user object of the answer.
async fn native_sign_in(http: &reqwest::Client, apple: &str, base: &str, i: usize) -> Value {
    let credential: Value = http
        .post(format!("{apple}/emulator/native"))
        .json(&json!({"client_id": IOS, "user": format!("u{i:04}"), "nonce": NONCE_HASH}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut body = json!({
        "identity_token": credential["identity_token"],
        "authorization_code": credential["authorization_code"],
        "nonce": RAW_NONCE,
    });
    if !credential["user"].is_null() {
        body["user"] = credential["user"].clone();
    }
    let response = http
        .post(format!("{base}/auth/apple/native"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "sign-in of u{i:04}: {answer}");
    answer["user"].clone()
}

fn now() -> u64 {
    SystemClock.now().secs()
}

/// A number of its own for each rehearsal of this process.
fn random_hex() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}
