//! Webhooks survive a crash: `siwa serve` SIGKILLed after a sign-in was
//! recorded and before its events reached the app still delivers them after
//! a restart (they wait in the outbox, written with the sign-in). And
//! `siwa webhooks list|retry` read and requeue the delivery log.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::siwa_with;
use crate::crash::{native_sign_in, scratch_dir, spawn_server, start_emulator, wait_healthy};

/// A receiver on `listener` that answers 204 to every POST and keeps
/// (webhook-id, type) of each, in a thread of its own.
fn receive_on(listener: TcpListener) -> Arc<Mutex<Vec<(String, String)>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut id, mut length) = (String::new(), 0usize);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("webhook-id:") {
                    id = v.trim().to_owned();
                } else if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            keep.lock()
                .unwrap()
                .push((id, event["type"].as_str().unwrap_or("").to_owned()));
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        }
    });
    got
}

fn list_json(dir: &std::path::Path, db: &str) -> Vec<Value> {
    let config = dir.join("siwa.toml");
    let run = siwa_with(
        &[
            "webhooks",
            "list",
            "--config",
            config.to_str().unwrap(),
            "--json",
        ],
        &[("SIWA_DATABASE_URL", db), ("SIWA_LOG", "error")],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn events_recorded_before_a_sigkill_are_delivered_after_the_restart() {
    let dir = scratch_dir("webhooks-crash");
    let db = format!("sqlite://{}", dir.join("siwa.db").display());
    // The receiver's port, reserved and closed: the app is down at first.
    let reserved = TcpListener::bind("127.0.0.1:0").unwrap();
    let receiver_port = reserved.local_addr().unwrap().port();
    drop(reserved);
    // The service's whole configuration (`siwa webhooks` reads it as `siwa
    // serve` does); the server's environment repeats most of it.
    let key = crate::cli::fixture("AuthKey_ABC123DEFG.p8");
    std::fs::write(
        dir.join("siwa.toml"),
        format!(
            "team_id = \"DEF123GHIJ\"\nkey_id = \"ABC123DEFG\"\nprivate_key = {key:?}\n\
             client_id = \"com.example.web\"\nredirect_uri = \"http://127.0.0.1:9/auth/apple/callback\"\n\
             public_url = \"http://127.0.0.1:9\"\nwebhook_retry_secs = 3\n\n\
             [[webhook]]\nurl = \"http://127.0.0.1:{receiver_port}/hooks\"\n\
             secret = \"whsec_c2l3YS1raXQtd2ViaG9vay10ZXN0LXNlY3JldA==\"\n",
            key = key.display().to_string()
        ),
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let apple = start_emulator(1).await;
        let http = reqwest::Client::new();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (mut child, base) = spawn_server(&dir, port, &db, &apple.base_url(), &[]);
        wait_healthy(&http, &base, &mut child).await;
        let (token, _) = native_sign_in(&http, &apple.base_url(), &base, "u0", None).await;
        assert!(token.is_some(), "the sign-in succeeded");
        // The first attempt failed (nobody listens): the events wait, retried later.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !list_json(&dir, &db)
            .iter()
            .any(|e| e["attempts"].as_i64() >= Some(1))
        {
            assert!(Instant::now() < deadline, "no delivery was attempted");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        child.kill().unwrap(); // SIGKILL, between the change and its delivery
        child.wait().unwrap();
        let pending = list_json(&dir, &db);
        assert_eq!(pending.len(), 2, "{pending:?}");
        assert!(pending.iter().all(|e| e["state"] == "pending"));

        let got = receive_on(TcpListener::bind(("127.0.0.1", receiver_port)).unwrap());
        let (mut child, base) = spawn_server(&dir, port, &db, &apple.base_url(), &[]);
        wait_healthy(&http, &base, &mut child).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while got.lock().unwrap().len() < 2 {
            assert!(
                Instant::now() < deadline,
                "not delivered after the restart: {:?}",
                got.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let types: Vec<String> = got.lock().unwrap().iter().map(|(_, t)| t.clone()).collect();
        assert_eq!(types, ["user.created", "user.signed_in"]);
        let delivered = list_json(&dir, &db);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut delivered = delivered;
        while !delivered.iter().all(|e| e["state"] == "delivered") {
            assert!(Instant::now() < deadline, "{delivered:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
            delivered = list_json(&dir, &db);
        }

        // `retry` sends one again, with the same id; an unknown id exits 1.
        let id = delivered[0]["id"].as_str().unwrap().to_owned();
        let config = dir.join("siwa.toml");
        let run = siwa_with(
            &[
                "webhooks",
                "retry",
                "--config",
                config.to_str().unwrap(),
                &id,
            ],
            &[("SIWA_DATABASE_URL", &db), ("SIWA_LOG", "error")],
            None,
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.lock().unwrap().len() < 3 {
            assert!(Instant::now() < deadline, "the retried event did not come");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(got.lock().unwrap()[2].0, id);
        let run = siwa_with(
            &[
                "webhooks",
                "retry",
                "--config",
                config.to_str().unwrap(),
                "msg_unknown",
            ],
            &[("SIWA_DATABASE_URL", &db), ("SIWA_LOG", "error")],
            None,
        );
        assert_eq!(run.code, 1);
        assert!(run.stderr.contains("no such event"), "{}", run.stderr);
        child.kill().unwrap();
        child.wait().unwrap();
    });
    let _ = std::fs::remove_dir_all(&dir);
}
