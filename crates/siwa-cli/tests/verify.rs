//! `siwa verify` on the real Apple-signed vectors of
//! crates/siwa-kit/tests/vectors/apple-real (provenance in SOURCES.md there):
//! exit 0 valid, 1 invalid (reason on stderr), 2 usage; key sets from a file
//! or from a local URL.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::{siwa, siwa_with, siwa_with_bytes, Run, CLIENT};

/// A file of the real Apple-signed vectors, kept with the verifier's tests in
/// crates/siwa-kit/tests/vectors/apple-real. A missing one fails the test
/// with its path: the vectors belong to the repository, never optional.
fn apple_real(name: &str) -> PathBuf {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../siwa-kit/tests/vectors/apple-real"
    ))
    .join(name);
    assert!(
        path.is_file(),
        "test vector {} is missing; the vectors belong to the repository, \
         see crates/siwa-kit/tests/vectors/README.md",
        path.display()
    );
    path
}

/// An apple-real vector, with its key written as a key set file.
struct Vector {
    json: Value,
    jwks: PathBuf,
    _dir: TempDir,
}

impl Vector {
    fn load(name: &str) -> Self {
        let path = apple_real(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("test vector {} is unreadable: {e}", path.display()));
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("test vector {} is not JSON: {e}", path.display()));
        let dir = TempDir::new();
        let jwks = dir.0.join("keys.json");
        std::fs::write(
            &jwks,
            serde_json::json!({"keys": [json["jwk"]]}).to_string(),
        )
        .unwrap();
        Self {
            json,
            jwks,
            _dir: dir,
        }
    }

    fn token(&self) -> &str {
        self.json["id_token"].as_str().unwrap()
    }

    fn aud(&self) -> &str {
        self.json["expected_claims"]["aud"].as_str().unwrap()
    }

    fn iat(&self) -> String {
        self.json["expected_claims"]["iat"].to_string()
    }

    fn jwks(&self) -> &str {
        self.jwks.to_str().unwrap()
    }

    /// `siwa verify TOKEN --jwks FILE --client-id AUD --now IAT EXTRA...`
    fn verify(&self, extra: &[&str]) -> Run {
        let iat = self.iat();
        let mut args = vec![
            "verify",
            self.token(),
            "--jwks",
            self.jwks(),
            "--client-id",
            self.aud(),
            "--now",
            &iat,
        ];
        args.extend_from_slice(extra);
        siwa(&args)
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "siwa-verify-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn verify_real_token_prints_its_claims() {
    let v = Vector::load("exaunml-whitepaek-web-at_hash.json");
    let run = v.verify(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("valid identity token"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("000148.f06d822ce0b2483aaa97d273b0978325.1717"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("i79fiit9b3@privaterelay.appleid.com"),
        "{}",
        run.stdout
    );
}

#[test]
fn verify_json_prints_normalised_claims() {
    let v = Vector::load("exaunml-whitepaek-web-at_hash.json");
    let run = v.verify(&["--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let claims: Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    let mut expected = v.json["expected_claims"].clone();
    // Apple's "true" strings become booleans.
    expected["email_verified"] = Value::Bool(true);
    expected["is_private_email"] = Value::Bool(true);
    assert_eq!(claims, expected);
}

#[test]
fn verify_reads_the_token_from_stdin() {
    let v = Vector::load("aidopk1-nov-apple_id.json");
    let iat = v.iat();
    let args = [
        "verify",
        "-",
        "--jwks",
        v.jwks(),
        "--client-id",
        v.aud(),
        "--now",
        &iat,
    ];
    let run = siwa_with(&args, &[], Some(&format!("{}\n", v.token())));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = siwa_with(
        &args[..1]
            .iter()
            .chain(&args[2..])
            .copied()
            .collect::<Vec<_>>(),
        &[],
        Some(v.token()),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn verify_takes_several_client_ids_and_the_environment() {
    let v = Vector::load("aidopk1-nov-apple_id.json");
    let iat = v.iat();
    let run = siwa(&[
        "verify",
        v.token(),
        "--jwks",
        v.jwks(),
        "--client-id",
        "com.example.web",
        "--client-id",
        v.aud(),
        "--now",
        &iat,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = siwa_with(
        &["verify", v.token(), "--jwks", v.jwks(), "--now", &iat],
        &[("SIWA_CLIENT_ID", &format!("com.example.web,{}", v.aud()))],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn verify_tampered_token_exits_1_with_the_reason() {
    let v = Vector::load("w6wcokb-fastcrypto-nonce.tampered.json");
    let run = v.verify(&[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("signature does not verify"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn verify_json_failure_prints_a_verdict() {
    let v = Vector::load("w6wcokb-fastcrypto-nonce.json");
    let run = siwa(&[
        "verify",
        v.token(),
        "--jwks",
        v.jwks(),
        "--client-id",
        "com.example.web",
        "--now",
        &v.iat(),
        "--json",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let verdict: Value = serde_json::from_str(&run.stdout).expect("JSON verdict");
    assert_eq!(verdict["valid"], false);
    assert_eq!(verdict["claim"], "aud");
    assert!(run.stderr.contains("com.example.web"), "{}", run.stderr);
}

#[test]
fn verify_judges_time_with_now_and_leeway() {
    let v = Vector::load("w6wcokb-fastcrypto-nonce.json");
    // Today the token is long expired.
    let run = siwa(&[
        "verify",
        v.token(),
        "--jwks",
        v.jwks(),
        "--client-id",
        v.aud(),
    ]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("expired"), "{}", run.stderr);
    let exp = v.json["expected_claims"]["exp"].as_u64().unwrap();
    let after = (exp + 30).to_string();
    let run = siwa(&[
        "verify",
        v.token(),
        "--jwks",
        v.jwks(),
        "--client-id",
        v.aud(),
        "--now",
        &after,
    ]);
    assert_eq!(
        run.code, 0,
        "inside the default 60 s leeway: {}",
        run.stderr
    );
    let run = siwa(&[
        "verify",
        v.token(),
        "--jwks",
        v.jwks(),
        "--client-id",
        v.aud(),
        "--now",
        &after,
        "--leeway",
        "10",
    ]);
    assert_eq!(run.code, 1);
    let before = (v.json["expected_claims"]["iat"].as_u64().unwrap() - 3600).to_string();
    let run = siwa(&[
        "verify",
        v.token(),
        "--jwks",
        v.jwks(),
        "--client-id",
        v.aud(),
        "--now",
        &before,
    ]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("in the future"), "{}", run.stderr);
}

#[test]
fn verify_checks_the_nonce() {
    let v = Vector::load("exaunml-whitepaek-web-at_hash.json");
    assert_eq!(v.verify(&["--nonce", "20B20D-0S8-1K8"]).code, 0);
    let run = v.verify(&["--nonce", "another"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("nonce"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("20B20D-0S8-1K8"),
        "the nonce is never echoed: {}",
        run.stderr
    );
    assert_eq!(v.verify(&["--raw-nonce", "20B20D-0S8-1K8"]).code, 1);
    // Both at once is a usage error.
    assert_eq!(v.verify(&["--nonce", "a", "--raw-nonce", "b"]).code, 2);
}

#[test]
fn verify_against_apples_newer_key_set_is_unknown_kid() {
    let v = Vector::load("aidopk1-nov-apple_id.json");
    let snapshot = apple_real("jwks-snapshot.json");
    let run = siwa(&[
        "verify",
        v.token(),
        "--jwks",
        snapshot.to_str().unwrap(),
        "--client-id",
        v.aud(),
        "--now",
        &v.iat(),
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no key with kid \"AIDOPK1\""),
        "{}",
        run.stderr
    );
}

#[test]
fn verify_notification_prints_the_event() {
    let v = Vector::load("exaunml-gameroasters-s2s-email-disabled.json");
    let run = v.verify(&["--notification"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("valid notification: email-disabled"),
        "{}",
        run.stdout
    );
    let run = v.verify(&["--notification", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let event: Value = serde_json::from_str(&run.stdout).unwrap();
    let expected = &v.json["expected_events"];
    assert_eq!(event["type"], expected["type"]);
    assert_eq!(event["sub"], expected["sub"]);
    assert_eq!(event["email"], expected["email"]);
    assert_eq!(event["is_private_email"], true);
    assert_eq!(event["event_time"], expected["event_time"]);
    // The body Apple POSTs works too.
    let body = serde_json::json!({"payload": v.token()}).to_string();
    let iat = v.iat();
    let run = siwa_with(
        &[
            "verify",
            "--notification",
            "--jwks",
            v.jwks(),
            "--client-id",
            v.aud(),
            "--now",
            &iat,
        ],
        &[],
        Some(&body),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // An identity token is not a notification.
    let id = Vector::load("exaunml-gameroasters-no-email.json");
    let run = id.verify(&["--notification"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("events"), "{}", run.stderr);
}

#[test]
fn verify_usage_errors_exit_2() {
    let v = Vector::load("aidopk1-nov-apple_id.json");
    let no_client = siwa(&["verify", v.token(), "--jwks", v.jwks()]);
    assert_eq!(no_client.code, 2, "{}", no_client.stderr);
    assert!(
        no_client.stderr.contains("--client-id"),
        "{}",
        no_client.stderr
    );
    let no_jwks = siwa(&["verify", v.token(), "--client-id", v.aud()]);
    assert_eq!(no_jwks.code, 2, "{}", no_jwks.stderr);
    let missing = siwa(&[
        "verify",
        v.token(),
        "--jwks",
        "/nonexistent/keys.json",
        "--client-id",
        v.aud(),
    ]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    let dir = TempDir::new();
    let bad = dir.0.join("bad.json");
    std::fs::write(&bad, r#"{"keys":[],"keys":[]}"#).unwrap();
    let malformed = siwa(&[
        "verify",
        v.token(),
        "--jwks",
        bad.to_str().unwrap(),
        "--client-id",
        v.aud(),
    ]);
    assert_eq!(malformed.code, 2, "{}", malformed.stderr);
    let bad_client = siwa(&[
        "verify",
        v.token(),
        "--jwks",
        v.jwks(),
        "--client-id",
        "not a client id",
    ]);
    assert_eq!(bad_client.code, 2, "{}", bad_client.stderr);
}

/// A key set file with no key: enough configuration for `siwa verify` to
/// judge inputs that are no token at all.
fn no_keys() -> (TempDir, String) {
    let dir = TempDir::new();
    let path = dir.0.join("keys.json");
    std::fs::write(&path, r#"{"keys":[]}"#).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

/// Exit 1 with the reason and a hint on stderr; with `--json`, the verdict.
#[track_caller]
fn assert_judged(run: &Run, reason: &str) {
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains(reason), "{}", run.stderr);
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    assert!(!run.stderr.contains("error:"), "{}", run.stderr);
}

#[test]
fn verify_judges_an_empty_token_exit_1() {
    let (_dir, jwks) = no_keys();
    let flags = ["--jwks", jwks.as_str(), "--client-id", CLIENT];
    let args = |head: &[&'static str], tail: &[&'static str]| -> Vec<String> {
        head.iter()
            .chain(&flags)
            .chain(tail)
            .map(|s| s.to_string())
            .collect()
    };
    for (args, stdin) in [
        (args(&["verify", ""], &[]), None),
        (args(&["verify", " \n\t"], &[]), None),
        (args(&["verify", "-"], &[]), Some("")),
        (args(&["verify", "-"], &[]), Some("\r\n \n")),
        (args(&["verify"], &[]), Some("")),
        (args(&["verify", ""], &["--notification"]), None),
        (args(&["verify", "-"], &["--notification"]), Some("\n")),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = siwa_with(&args, &[], stdin);
        assert_judged(&run, "the input is empty");
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
    let run = siwa_with(
        &[
            "verify",
            "-",
            "--json",
            "--jwks",
            &jwks,
            "--client-id",
            CLIENT,
        ],
        &[],
        Some(""),
    );
    assert_judged(&run, "the input is empty");
    let verdict: Value = serde_json::from_str(&run.stdout).expect("JSON verdict");
    assert_eq!(verdict["valid"], false);
    assert!(
        verdict["error"].as_str().unwrap().contains("empty"),
        "{verdict}"
    );
    assert!(!verdict["hint"].as_str().unwrap().is_empty(), "{verdict}");
    // Configuration comes first: with no client id nothing is judged.
    let run = siwa(&["verify", "", "--jwks", &jwks]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn verify_judges_stdin_over_the_size_bound_exit_1() {
    let (_dir, jwks) = no_keys();
    const BOUND: usize = 1024 * 1024;
    for (len, extra) in [
        (BOUND + 1, None),
        (3 * BOUND, None),
        (BOUND + 1, Some("--notification")),
    ] {
        let mut args = vec!["verify", "-", "--jwks", &jwks, "--client-id", CLIENT];
        args.extend(extra);
        let run = siwa_with(&args, &[], Some(&"A".repeat(len)));
        assert_judged(&run, &format!("more than {BOUND} bytes"));
    }
    let run = siwa_with(
        &["verify", "--json", "--jwks", &jwks, "--client-id", CLIENT],
        &[],
        Some(&"A".repeat(BOUND + 1)),
    );
    assert_judged(&run, "bytes");
    let verdict: Value = serde_json::from_str(&run.stdout).expect("JSON verdict");
    assert_eq!(verdict["valid"], false);
}

#[test]
fn verify_judges_stdin_that_is_not_text_exit_1() {
    let (_dir, jwks) = no_keys();
    let run = siwa_with_bytes(
        &["verify", "-", "--jwks", &jwks, "--client-id", CLIENT],
        &[],
        Some(b"eyJ\xff.e30.x"),
    );
    assert_judged(&run, "not UTF-8");
}

#[test]
fn verify_garbage_and_huge_input_exit_1_without_panic() {
    let v = Vector::load("aidopk1-nov-apple_id.json");
    for token in [
        "garbage",
        "a.b",
        "a.b.c.d",
        "e30.e30.e30",
        "....",
        "\u{1F600}.x.y",
    ] {
        let run = siwa(&["verify", token, "--jwks", v.jwks(), "--client-id", v.aud()]);
        assert_eq!(run.code, 1, "{token}: {}", run.stderr);
    }
    let huge = "A".repeat(1024 * 1024 - 10);
    let run = siwa_with(
        &["verify", "--jwks", v.jwks(), "--client-id", v.aud()],
        &[],
        Some(&huge),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("limit"), "{}", run.stderr);
}

/// Serves `body` at any path, to at most `max` connections, for at most 20 s.
fn serve_once(body: String, max: usize) -> (String, std::thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/auth/keys", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut served = 0;
        while served < max && Instant::now() < deadline {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(5)))
                        .unwrap();
                    let mut request = [0u8; 4096];
                    let _ = stream.read(&mut request);
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes());
                    served += 1;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        served
    });
    (url, handle)
}

#[test]
fn verify_fetches_the_key_set_from_a_url() {
    let v = Vector::load("exaunml-gameroasters-no-email.json");
    let (url, server) = serve_once(std::fs::read_to_string(&v.jwks).unwrap(), 1);
    let iat = v.iat();
    let run = siwa(&[
        "verify",
        v.token(),
        "--jwks",
        &url,
        "--client-id",
        v.aud(),
        "--now",
        &iat,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(server.join().unwrap(), 1);
    // Nothing listens there any more: a configuration error, not a verdict.
    let run = siwa(&[
        "verify",
        v.token(),
        "--jwks",
        &url,
        "--client-id",
        v.aud(),
        "--now",
        &iat,
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--jwks"), "{}", run.stderr);
}
