//! `siwa demo`: its data stays private (finding 8 of the security review).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_files_are_owner_only() {
    let dir = std::env::temp_dir().join(format!("siwa-demo-modes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // A data directory someone made world-readable: tightened, with a warning.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_siwa"))
        .args(["demo", "--port", "0", "--apple-port", "0", "--data-dir"])
        .arg(&dir)
        .env("SIWA_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut warned, mut apple) = (false, None);
    while apple.is_none() {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("siwa demo did not start: {:?}", child.try_wait()));
        warned |= line.contains("was accessible to other users");
        if let Some(rest) = line.trim().strip_prefix("Apple (emulated): ") {
            apple = rest.split_whitespace().next().map(str::to_owned);
        }
    }
    assert!(warned, "the loosened directory is reported");
    // A sign-in at the emulator writes its state file (it holds refresh tokens).
    let credential = reqwest::Client::new()
        .post(format!("{}/emulator/native", apple.unwrap()))
        .json(&json!({"client_id": "com.example.ios", "user": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(credential.status(), 200);
    let _ = child.kill();
    let _ = child.wait();

    assert_eq!(mode(&dir), 0o700, "the data directory");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        files += 1;
    }
    for name in [
        "AuthKey_DEMOKEY001.p8",
        "siwa.db",
        "siwa-service-keys.json",
        "emulator-state.json",
    ] {
        assert!(dir.join(name).exists(), "{name} was written");
    }
    assert!(files >= 4);
    std::fs::remove_dir_all(&dir).unwrap();
}
