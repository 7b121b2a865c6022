#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! A bounded mixed load against `siwa serve` + the emulator on loopback:
//! native sign-ins, token refreshes, `/me` calls and forged tokens (random
//! kids), at the highest rate `--concurrency` workers sustain, for
//! `--seconds`. Reports throughput, p50/p99 per operation, errors (must be 0
//! for well-formed requests), the service's resident memory over time, and
//! how often the service fetched Apple's keys (forged kids must not raise it
//! above one fetch per refetch interval).
//!
//! `bench/soak.sh --seconds 300 --report bench/REPORT.md` builds `siwa` and
//! this program in release and runs it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use siwa_emulator::{ConfigBuilder, Emulator, TeamBuilder, UserBuilder};

/// The app's raw nonce, and its SHA-256 in hex as the app hands it to Apple.
const RAW_NONCE: &str = "siwa-test-nonce";
const NONCE_HASH: &str = "a18ca2eddbf3a2913b0e8a2f70d1a2aa457702405e9c099d418f545612b1b047";

const USERS: usize = 200;
const REFETCH_INTERVAL_SECS: u64 = 30;

#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
enum Op {
    Me,
    Refresh,
    NativeSignIn,
    ForgedToken,
}

#[derive(Default)]
struct Tally {
    latencies: HashMap<Op, Vec<u32>>,
    errors: HashMap<Op, u64>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    };
    let seconds: u64 = flag("--seconds", "300").parse().expect("--seconds N");
    let concurrency: usize = flag("--concurrency", "16")
        .parse()
        .expect("--concurrency N");
    let report = PathBuf::from(flag("--report", "bench/REPORT.md"));
    let siwa = PathBuf::from(flag("--siwa", "target/release/siwa"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(run(seconds, concurrency, &report, &siwa));
}

async fn run(seconds: u64, concurrency: usize, report: &PathBuf, siwa: &PathBuf) {
    let fixtures =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../crates/siwa-kit/tests/fixtures");
    let apple = start_emulator(&fixtures).await;
    let dir = std::env::temp_dir().join(format!("siwa-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = spawn_server(siwa, &fixtures, &dir, port, &apple.base_url());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(concurrency * 2)
        .build()
        .expect("client");
    wait_ready(&http, &base).await;

    // Sessions to refresh and to call /me with: one per user, by native sign-in.
    let pool = Arc::new(Mutex::new(Vec::new()));
    for i in 0..USERS {
        let answer = native(&http, &apple.base_url(), &base, &format!("u{i}"), false)
            .await
            .expect("seed sign-in");
        pool.lock().unwrap().push((
            answer["access_token"].as_str().unwrap().to_owned(),
            answer["refresh_token"].as_str().unwrap().to_owned(),
        ));
    }
    let pid = server.id();
    let rss_start = rss_kib(pid);
    let keys_start = apple_requests(&http, &apple.base_url(), "/auth/keys").await;
    println!("soak: {seconds} s, {concurrency} workers, {USERS} users; service RSS at start {rss_start} KiB");

    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (http, apple_url, base, pool, tally) = (
            http.clone(),
            apple.base_url(),
            base.clone(),
            Arc::clone(&pool),
            Arc::clone(&tally),
        );
        workers.push(tokio::spawn(async move {
            let mut n: u64 = w as u64;
            while Instant::now() < deadline {
                n = n
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let roll = (n >> 33) % 100;
                let op = match roll {
                    0..=49 => Op::Me,
                    50..=69 => Op::Refresh,
                    70..=79 => Op::NativeSignIn,
                    _ => Op::ForgedToken,
                };
                let t0 = Instant::now();
                let ok = match op {
                    Op::Me => me(&http, &base, &pool, n).await,
                    Op::Refresh => refresh(&http, &base, &pool, n).await,
                    Op::NativeSignIn => native(
                        &http,
                        &apple_url,
                        &base,
                        &format!("u{}", n % USERS as u64),
                        false,
                    )
                    .await
                    .is_some(),
                    Op::ForgedToken => native(
                        &http,
                        &apple_url,
                        &base,
                        &format!("u{}", n % USERS as u64),
                        true,
                    )
                    .await
                    .is_none(),
                };
                let micros = u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX);
                let mut t = tally.lock().unwrap();
                t.latencies.entry(op).or_default().push(micros);
                if !ok {
                    *t.errors.entry(op).or_default() += 1;
                }
            }
        }));
    }
    let mut rss_trend = vec![(0u64, rss_start)];
    while Instant::now() < deadline {
        tokio::time::sleep(
            Duration::from_secs(10).min(deadline.saturating_duration_since(Instant::now())),
        )
        .await;
        rss_trend.push((started.elapsed().as_secs(), rss_kib(pid)));
    }
    for w in workers {
        let _ = w.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rss_end = rss_kib(pid);
    let keys_fetched = apple_requests(&http, &apple.base_url(), "/auth/keys").await - keys_start;
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);

    let tally = tally.lock().unwrap();
    let mut text = String::new();
    text.push_str(&format!(
        "# Soak: mixed load on `siwa serve` + emulator\n\n{} s on loopback, {concurrency} workers, {USERS} users, SQLite; machine: {} ({} cores, shared).\n\n",
        elapsed.round(),
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    ));
    text.push_str("| operation | requests | req/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|---:|\n");
    let mut total = 0usize;
    let mut well_formed_errors = 0u64;
    for op in [Op::Me, Op::Refresh, Op::NativeSignIn, Op::ForgedToken] {
        let mut lat = tally.latencies.get(&op).cloned().unwrap_or_default();
        lat.sort_unstable();
        let pct = |p: f64| {
            lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
                .map_or(0.0, |v| f64::from(*v) / 1000.0)
        };
        let errors = tally.errors.get(&op).copied().unwrap_or(0);
        if op != Op::ForgedToken {
            well_formed_errors += errors;
        }
        total += lat.len();
        text.push_str(&format!(
            "| {op:?} | {} | {:.0} | {:.2} | {:.2} | {errors} |\n",
            lat.len(),
            lat.len() as f64 / elapsed,
            pct(0.50),
            pct(0.99)
        ));
    }
    let allowed = seconds / REFETCH_INTERVAL_SECS + 2;
    text.push_str(&format!(
        "\nTotal {total} requests, {:.0} req/s. Errors on well-formed requests: **{well_formed_errors}** (must be 0). \
ForgedToken counts an error when a forged token was *accepted*.\n\n\
Resident memory of `siwa serve`: {rss_start} KiB at start, {rss_end} KiB at the end; every 10 s: {}.\n\n\
Fetches of Apple's keys during the run: **{keys_fetched}** (random-kid forgeries included; the limit is one per {REFETCH_INTERVAL_SECS} s refetch interval, {allowed} here).\n\n\
Re-run: `bench/soak.sh --seconds 300 --report bench/REPORT.md`.\n",
        total as f64 / elapsed,
        rss_trend.iter().map(|(t, kib)| format!("{t}s {kib}")).collect::<Vec<_>>().join(", ")
    ));
    print!("{text}");
    std::fs::write(report, &text).expect("write the report");
    assert_eq!(well_formed_errors, 0, "well-formed requests failed");
    assert!(
        keys_fetched <= allowed,
        "forged kids made the service fetch Apple's keys {keys_fetched} times"
    );
}

async fn start_emulator(fixtures: &std::path::Path) -> siwa_emulator::RunningEmulator {
    let config = ConfigBuilder::new()
        .team(
            TeamBuilder::new("DEF123GHIJ")
                .key_file("ABC123DEFG", "AuthKey_ABC123DEFG.pub.pem")
                .client("com.example.web", ["http://127.0.0.1:9/cb"])
                .native_client("com.example.ios"),
        )
        .users((0..USERS).map(|i| {
            UserBuilder::new(format!("u{i}"), format!("u{i}@example.com"))
                .name(format!("F{i}"), format!("L{i}"))
        }))
        .build(fixtures)
        .expect("emulator config");
    Emulator::new(config)
        .expect("emulator")
        .start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("emulator start")
}

fn spawn_server(
    siwa: &PathBuf,
    fixtures: &std::path::Path,
    dir: &std::path::Path,
    port: u16,
    apple: &str,
) -> Child {
    let base = format!("http://127.0.0.1:{port}");
    Command::new(siwa)
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SIWA_TEAM_ID", "DEF123GHIJ")
        .env("SIWA_KEY_ID", "ABC123DEFG")
        .env("SIWA_PRIVATE_KEY", fixtures.join("AuthKey_ABC123DEFG.p8"))
        .env("SIWA_CLIENT_ID", "com.example.web")
        .env("SIWA_BUNDLE_IDS", "com.example.ios")
        .env("SIWA_REDIRECT_URI", format!("{base}/auth/apple/callback"))
        .env("SIWA_LISTEN", format!("127.0.0.1:{port}"))
        .env("SIWA_PUBLIC_URL", &base)
        .env(
            "SIWA_DATABASE_URL",
            format!("sqlite://{}", dir.join("siwa.db").display()),
        )
        .env("SIWA_APPLE_BASE_URL", apple)
        .env("SIWA_RATE_LIMIT_PER_IP_PER_MINUTE", "0")
        .env("SIWA_RATE_LIMIT_GLOBAL_PER_SECOND", "0")
        .env("SIWA_RATE_LIMIT_REFRESH_PER_IP_PER_MINUTE", "0")
        .env("SIWA_RATE_LIMIT_REFRESH_GLOBAL_PER_SECOND", "0")
        .env("SIWA_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn siwa serve")
}

async fn wait_ready(http: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("siwa serve did not start");
}

/// A native sign-in; with `forge`, the identity token's kid is replaced by a random one.
async fn native(
    http: &reqwest::Client,
    apple: &str,
    base: &str,
    user: &str,
    forge: bool,
) -> Option<Value> {
    let credential: Value = http
        .post(format!("{apple}/emulator/native"))
        .json(&json!({"client_id": "com.example.ios", "user": user, "nonce": NONCE_HASH}))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let mut token = credential["identity_token"].as_str()?.to_owned();
    if forge {
        let kid: String = format!(
            "{:016x}",
            std::collections::hash_map::RandomState::new().build_hasher_finish()
        );
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"kid":"{kid}","alg":"RS256"}}"#));
        let rest = token.split_once('.')?.1.to_owned();
        token = format!("{header}.{rest}");
    }
    let response = http
        .post(format!("{base}/auth/apple/native"))
        .json(&json!({"identity_token": token, "authorization_code": credential["authorization_code"], "nonce": RAW_NONCE}))
        .send()
        .await
        .ok()?;
    if response.status() != 200 {
        return None;
    }
    response.json().await.ok()
}

async fn me(
    http: &reqwest::Client,
    base: &str,
    pool: &Mutex<Vec<(String, String)>>,
    n: u64,
) -> bool {
    let token = {
        let pool = pool.lock().unwrap();
        pool[(n as usize) % pool.len()].0.clone()
    };
    http.get(format!("{base}/me"))
        .bearer_auth(token)
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

async fn refresh(
    http: &reqwest::Client,
    base: &str,
    pool: &Mutex<Vec<(String, String)>>,
    n: u64,
) -> bool {
    // Take a session out of the pool while it rotates, so no two workers spend one token.
    let (index, old) = {
        let mut pool = pool.lock().unwrap();
        let index = (n as usize) % pool.len();
        (index, std::mem::take(&mut pool[index].1))
    };
    if old.is_empty() {
        return true; // another worker is rotating this one
    }
    let answer = http
        .post(format!("{base}/session/refresh"))
        .json(&json!({"refresh_token": old}))
        .send()
        .await;
    let Some(body) = (match answer {
        Ok(r) if r.status() == 200 => r.json::<Value>().await.ok(),
        _ => None,
    }) else {
        return false;
    };
    let mut pool = pool.lock().unwrap();
    pool[index] = (
        body["access_token"].as_str().unwrap_or_default().to_owned(),
        body["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    );
    true
}

async fn apple_requests(http: &reqwest::Client, apple: &str, route: &str) -> u64 {
    let stats: Value = http
        .get(format!("{apple}/emulator/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats json");
    stats["requests"][route].as_u64().unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

trait FinishRandom {
    fn build_hasher_finish(&self) -> u64;
}

impl FinishRandom for std::collections::hash_map::RandomState {
    fn build_hasher_finish(&self) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        self.build_hasher().finish()
    }
}
