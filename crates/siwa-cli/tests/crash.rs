//! Crash safety: native sign-ins and a storm of refresh-token rotations
//! against a real `siwa serve` process that is killed with SIGKILL at random
//! points, again and again. After each restart, every sign-in that was
//! answered with success must be in the store with its first-login name,
//! every name the service received must be kept, the newest refresh token
//! each session was answered with must still work (no answered rotation
//! lost; SQLite's group commit answers only after its commit), and the
//! SQLite database must pass `PRAGMA integrity_check`. The same on
//! PostgreSQL when `SIWA_TEST_DATABASE_URL` is set.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use siwa_emulator::{ConfigBuilder, Emulator, RunningEmulator, TeamBuilder, UserBuilder};

use crate::cli::fixture;

/// Kill/restart cycles per backend.
const CYCLES: usize = 50;
/// Sign-ins started per cycle (concurrently), before the kill lands.
const SIGN_INS_PER_CYCLE: usize = 8;
/// Sessions rotating their refresh token in a loop during each cycle.
const STORM_SESSIONS: usize = 16;
const TEAM: &str = "DEF123GHIJ";
const IOS: &str = "com.example.ios";

#[test]
fn sigkill_during_sign_ins_loses_nothing_on_sqlite() {
    let dir = scratch_dir("crash-sqlite");
    let db = dir.join("siwa.db");
    let url = format!("sqlite://{}", db.display());
    let run = run_cycles(&dir, &url, &[]);
    integrity_check(&db);
    println!(
        "crash test (SQLite): {CYCLES} SIGKILL cycles; {} sign-ins acknowledged before a kill and all found with their names; {} interrupted ones retried; {} refresh rotations answered during the storms, the newest token of each of {} sessions checked after every restart ({} checks); 0 lost",
        run.acknowledged,
        run.checked - run.acknowledged,
        run.rotations,
        run.sessions,
        run.session_checks,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigkill_during_sign_ins_loses_nothing_on_postgres() {
    let Some(base) = std::env::var("SIWA_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipping the PostgreSQL crash test: SIWA_TEST_DATABASE_URL is not set");
        return;
    };
    let dir = scratch_dir("crash-postgres");
    let schema = format!("siwa_crash_{}", std::process::id());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
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
    });
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let (session_key, encryption_key) = siwa_server::ServiceKeys::new_settings().unwrap();
    let keys = [
        ("SIWA_SESSION_KEY", session_key.to_string()),
        ("SIWA_ENCRYPTION_KEY", encryption_key.to_string()),
    ];
    let run = run_cycles(&dir, &url, &keys);
    println!(
        "crash test (PostgreSQL): {CYCLES} SIGKILL cycles; {} sign-ins acknowledged before a kill and all found with their names; {} interrupted ones retried; {} refresh rotations answered during the storms, the newest token of each of {} sessions checked after every restart ({} checks); 0 lost",
        run.acknowledged,
        run.checked - run.acknowledged,
        run.rotations,
        run.sessions,
        run.session_checks,
    );
    runtime.block_on(async {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
            .await
            .unwrap();
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut conn)
            .await
            .unwrap();
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// One sign-in as the app saw it.
struct Attempt {
    user: String,
    first_name: String,
    /// The access token, when the service answered 200.
    access_token: Option<String>,
    /// The refresh token of that answer.
    refresh_token: Option<String>,
}

/// A session in the refresh storm: the newest refresh token the service
/// answered it with.
struct Chain {
    user: String,
    refresh_token: String,
}

/// What a run did.
struct Run {
    acknowledged: usize,
    checked: usize,
    rotations: usize,
    sessions: usize,
    session_checks: usize,
}

/// Runs the cycles.
fn run_cycles(dir: &Path, database_url: &str, extra_env: &[(&str, String)]) -> Run {
    // A rotation that committed but whose answer the kill cut off leaves the
    // newest answered token spent: within the grace it gets the (unseen)
    // successor instead of revoking the session, so the check can tell an
    // unanswered write (kept or not) from a lost answered one.
    let mut env = extra_env.to_vec();
    env.push(("SIWA_REFRESH_REUSE_GRACE_SECS", "3600".to_owned()));
    let extra_env = env.as_slice();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let users = CYCLES * SIGN_INS_PER_CYCLE;
    let apple = runtime.block_on(start_emulator(users));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut rng = Lcg::seeded();
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut chains: Vec<Chain> = Vec::new();
    // The chains the last storm rotated: the ones to check after the restart.
    let mut stormed: Vec<usize> = Vec::new();
    let (mut rotations, mut session_checks) = (0, 0);
    // One port for the whole run: the public URL is the issuer of our tokens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut next_user = 0;
    for _ in 0..CYCLES {
        let (mut child, base) = spawn_server(dir, port, database_url, &apple.base_url(), extra_env);
        runtime.block_on(wait_healthy(&http, &base, &mut child));
        // Everything acknowledged so far survived the last kill.
        runtime.block_on(check_acknowledged(&http, &base, &attempts));
        session_checks += runtime.block_on(check_chains(&http, &base, &mut chains, &stormed));
        stormed = (0..chains.len().min(STORM_SESSIONS))
            .map(|i| (next_user + i) % chains.len())
            .collect();
        let storm = {
            let _runtime = runtime.enter();
            start_storm(&http, &base, &chains, &stormed)
        };
        let batch: Vec<String> = (0..SIGN_INS_PER_CYCLE)
            .map(|i| format!("u{}", next_user + i))
            .collect();
        next_user += SIGN_INS_PER_CYCLE;
        // Anywhere from before the first request to after the last answer.
        let kill_after = Duration::from_millis(rng.below(1_500));
        let batch_attempts = runtime.block_on(sign_ins_then_kill(
            &http,
            &apple.base_url(),
            &base,
            &batch,
            kill_after,
            &mut child,
        ));
        for (index, refresh_token, answered) in runtime.block_on(end_storm(storm)) {
            chains[index].refresh_token = refresh_token;
            rotations += answered;
        }
        chains.extend(batch_attempts.iter().filter_map(|a| {
            Some(Chain {
                user: a.user.clone(),
                refresh_token: a.refresh_token.clone()?,
            })
        }));
        // Unacknowledged attempts are kept too: the app retries them at the end,
        // resending the name it still holds (Apple will not send it again).
        attempts.extend(batch_attempts);
    }
    let acknowledged = attempts.iter().filter(|a| a.access_token.is_some()).count();
    // A last start: retry the unacknowledged sign-ins, then check everything.
    let (mut child, base) = spawn_server(dir, port, database_url, &apple.base_url(), extra_env);
    runtime.block_on(wait_healthy(&http, &base, &mut child));
    runtime.block_on(async {
        for attempt in attempts.iter_mut().filter(|a| a.access_token.is_none()) {
            let (token, _, _) = native_sign_in_tokens(
                &http,
                &apple.base_url(),
                &base,
                &attempt.user,
                Some(&attempt.first_name),
            )
            .await;
            attempt.access_token =
                Some(token.unwrap_or_else(|| panic!("retry of {} failed", attempt.user)));
        }
    });
    runtime.block_on(check_acknowledged(&http, &base, &attempts));
    let every: Vec<usize> = (0..chains.len()).collect();
    session_checks += runtime.block_on(check_chains(&http, &base, &mut chains, &every));
    let _ = child.kill();
    let _ = child.wait();
    drop(apple);
    Run {
        acknowledged,
        checked: attempts.len(),
        rotations,
        sessions: chains.len(),
        session_checks,
    }
}

type Storm = Vec<tokio::task::JoinHandle<(usize, String, usize)>>;

/// Rotates each chosen session's refresh token in a loop, as fast as the
/// service answers, until the service dies under it.
fn start_storm(http: &reqwest::Client, base: &str, chains: &[Chain], chosen: &[usize]) -> Storm {
    chosen
        .iter()
        .map(|&index| {
            let (http, base) = (http.clone(), base.to_owned());
            let (user, mut token) = (chains[index].user.clone(), chains[index].refresh_token.clone());
            tokio::spawn(async move {
                let mut answered = 0;
                loop {
                    match refresh(&http, &base, &token).await {
                        Refreshed::Ok(next) => {
                            token = next;
                            answered += 1;
                        }
                        Refreshed::NoAnswer => return (index, token, answered),
                        Refreshed::Refused(status) => {
                            panic!("a rotation of {user}'s session was refused during the storm: {status}")
                        }
                    }
                }
            })
        })
        .collect()
}

async fn end_storm(storm: Storm) -> Vec<(usize, String, usize)> {
    let mut ended = Vec::new();
    for task in storm {
        ended.push(task.await.unwrap());
    }
    ended
}

/// The newest answered refresh token of each chosen session still works
/// (its rotation is on disk); the chain goes on from the token it gets.
async fn check_chains(
    http: &reqwest::Client,
    base: &str,
    chains: &mut [Chain],
    chosen: &[usize],
) -> usize {
    for &index in chosen {
        let chain = &mut chains[index];
        match refresh(http, base, &chain.refresh_token).await {
            Refreshed::Ok(next) => chain.refresh_token = next,
            other => panic!(
                "the newest refresh token answered to {} no longer works after a restart: {other:?}",
                chain.user
            ),
        }
    }
    chosen.len()
}

#[derive(Debug)]
enum Refreshed {
    Ok(String),
    /// The connection failed or the service did not answer 200 for a reason
    /// of its own dying (the kill).
    NoAnswer,
    Refused(u16),
}

async fn refresh(http: &reqwest::Client, base: &str, token: &str) -> Refreshed {
    let Ok(response) = http
        .post(format!("{base}/session/refresh"))
        .json(&json!({ "refresh_token": token }))
        .send()
        .await
    else {
        return Refreshed::NoAnswer;
    };
    let status = response.status().as_u16();
    if status == 401 || status == 400 {
        return Refreshed::Refused(status);
    }
    if status != 200 {
        return Refreshed::NoAnswer;
    }
    match response.json::<Value>().await {
        Ok(answer) => match answer["refresh_token"].as_str() {
            Some(next) => Refreshed::Ok(next.to_owned()),
            None => panic!("a refresh answer without a refresh token: {answer}"),
        },
        // The body was cut off by the kill: the client never saw the token.
        Err(_) => Refreshed::NoAnswer,
    }
}

pub(crate) async fn start_emulator(users: usize) -> RunningEmulator {
    let config = ConfigBuilder::new()
        .team(
            TeamBuilder::new(TEAM)
                .key_file("ABC123DEFG", "AuthKey_ABC123DEFG.pub.pem")
                .client(
                    "com.example.web",
                    ["http://127.0.0.1:9/auth/apple/callback"],
                )
                .native_client(IOS),
        )
        .users((0..users).map(|i| {
            UserBuilder::new(format!("u{i}"), format!("u{i}@example.com"))
                .name(format!("First{i}"), format!("Last{i}"))
        }))
        .build(&fixture(""))
        .unwrap();
    Emulator::new(config)
        .unwrap()
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

pub(crate) fn spawn_server(
    dir: &Path,
    port: u16,
    database_url: &str,
    apple: &str,
    extra_env: &[(&str, String)],
) -> (Child, String) {
    let base = format!("http://127.0.0.1:{port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_siwa"));
    cmd.arg("serve");
    if dir.join("siwa.toml").exists() {
        // A test's own settings beside the database (the environment wins).
        cmd.arg("--config").arg(dir.join("siwa.toml"));
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("SIWA_") {
            cmd.env_remove(key);
        }
    }
    let key = fixture("AuthKey_ABC123DEFG.p8");
    let env = [
        ("SIWA_TEAM_ID", TEAM.to_owned()),
        ("SIWA_KEY_ID", "ABC123DEFG".to_owned()),
        ("SIWA_PRIVATE_KEY", key.display().to_string()),
        ("SIWA_CLIENT_ID", "com.example.web".to_owned()),
        ("SIWA_BUNDLE_IDS", IOS.to_owned()),
        ("SIWA_REDIRECT_URI", format!("{base}/auth/apple/callback")),
        ("SIWA_LISTEN", format!("127.0.0.1:{port}")),
        ("SIWA_PUBLIC_URL", base.clone()),
        ("SIWA_DATABASE_URL", database_url.to_owned()),
        ("SIWA_APPLE_BASE_URL", apple.to_owned()),
        ("SIWA_RATE_LIMIT_PER_IP_PER_MINUTE", "0".to_owned()),
        ("SIWA_RATE_LIMIT_GLOBAL_PER_SECOND", "0".to_owned()),
        ("SIWA_RATE_LIMIT_REFRESH_PER_IP_PER_MINUTE", "0".to_owned()),
        ("SIWA_RATE_LIMIT_REFRESH_GLOBAL_PER_SECOND", "0".to_owned()),
        ("SIWA_LOG", "warn".to_owned()),
    ];
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    cmd.envs(extra_env.iter().map(|(k, v)| (*k, v.as_str())));
    cmd.current_dir(dir);
    (cmd.spawn().unwrap(), base)
}

pub(crate) async fn wait_healthy(http: &reqwest::Client, base: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = http.get(format!("{base}/readyz")).send().await {
            if response.status() == 200 {
                return;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("siwa serve exited at start: {status}");
        }
        assert!(Instant::now() < deadline, "siwa serve did not become ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts the batch concurrently, kills the server after `kill_after`, and
/// collects what each request got.
async fn sign_ins_then_kill(
    http: &reqwest::Client,
    apple: &str,
    base: &str,
    users: &[String],
    kill_after: Duration,
    child: &mut Child,
) -> Vec<Attempt> {
    let mut tasks = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let (http, apple, base, user) = (
            http.clone(),
            apple.to_owned(),
            base.to_owned(),
            user.clone(),
        );
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(80 * i as u64)).await;
            let (access_token, refresh_token, first_name) =
                native_sign_in_tokens(&http, &apple, &base, &user, None).await;
            Attempt {
                user,
                first_name,
                access_token,
                refresh_token,
            }
        }));
    }
    tokio::time::sleep(kill_after).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let mut attempts = Vec::new();
    for task in tasks {
        attempts.push(task.await.unwrap());
    }
    attempts
}

/// The app's raw nonce, and its SHA-256 in hex as the app hands it to Apple.
const RAW_NONCE: &str = "siwa-test-nonce";
const NONCE_HASH: &str = "a18ca2eddbf3a2913b0e8a2f70d1a2aa457702405e9c099d418f545612b1b047";

/// One native sign-in: Apple's credential from the emulator, then the service.
/// `resend_name`: the name the app still holds when Apple does not send it
/// again. Gives the access token (when answered 200) and the first name.
pub(crate) async fn native_sign_in(
    http: &reqwest::Client,
    apple: &str,
    base: &str,
    user: &str,
    resend_name: Option<&str>,
) -> (Option<String>, String) {
    let (access_token, _, first_name) =
        native_sign_in_tokens(http, apple, base, user, resend_name).await;
    (access_token, first_name)
}

/// As [`native_sign_in`], with the refresh token of the answer.
async fn native_sign_in_tokens(
    http: &reqwest::Client,
    apple: &str,
    base: &str,
    user: &str,
    resend_name: Option<&str>,
) -> (Option<String>, Option<String>, String) {
    let credential: Value = http
        .post(format!("{apple}/emulator/native"))
        .json(&json!({"client_id": IOS, "user": user, "nonce": NONCE_HASH}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first_name = credential["user"]["name"]["firstName"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| resend_name.map(str::to_owned))
        .unwrap_or_default();
    let user_json = if credential["user"].is_null() {
        resend_name.map(|name| json!({"name": {"firstName": name, "lastName": ""}}))
    } else {
        Some(credential["user"].clone())
    };
    let mut body = json!({
        "identity_token": credential["identity_token"],
        "authorization_code": credential["authorization_code"],
        "nonce": RAW_NONCE,
    });
    if let Some(user_json) = user_json {
        body["user"] = user_json;
    }
    let Ok(response) = http
        .post(format!("{base}/auth/apple/native"))
        .json(&body)
        .send()
        .await
    else {
        return (None, None, first_name);
    };
    if response.status() != 200 {
        eprintln!(
            "sign-in of {user}: {} {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
        return (None, None, first_name);
    }
    let Ok(answer) = response.json::<Value>().await else {
        return (None, None, first_name);
    };
    (
        answer["access_token"].as_str().map(str::to_owned),
        answer["refresh_token"].as_str().map(str::to_owned),
        first_name,
    )
}

/// Every acknowledged sign-in is there, with its name.
async fn check_acknowledged(http: &reqwest::Client, base: &str, attempts: &[Attempt]) {
    let mut seen: HashMap<String, String> = HashMap::new();
    for attempt in attempts {
        let Some(token) = &attempt.access_token else {
            continue;
        };
        let response = http
            .get(format!("{base}/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "acknowledged sign-in of {} is lost",
            attempt.user
        );
        let me: Value = response.json().await.unwrap();
        assert_eq!(
            me["first_name"],
            attempt.first_name.as_str(),
            "the name of {} is lost: {me}",
            attempt.user
        );
        seen.insert(attempt.user.clone(), me["id"].as_str().unwrap().to_owned());
    }
    let distinct: std::collections::HashSet<&String> = seen.values().collect();
    assert_eq!(distinct.len(), seen.len(), "one account per Apple user");
}

fn integrity_check(db: &Path) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let url = format!("sqlite://{}", db.display());
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        let (result,): (String,) = sqlx::query_as("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(result, "ok");
    });
}

pub(crate) fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "siwa-{name}-{}-{:x}",
        std::process::id(),
        random_u64()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// 64 random bits from the standard library's per-process hash keys.
fn random_u64() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// A small deterministic-per-run generator for kill times (no extra crate).
struct Lcg(u64);

impl Lcg {
    fn seeded() -> Self {
        let seed = random_u64();
        println!("crash test seed: {seed}");
        Self(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}
