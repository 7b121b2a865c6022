//! `siwa exchange|refresh|revoke|authorize-url` and `siwa doctor --probe`
//! against the emulator, started in this process on a free port.

use std::io::{Read, Write};
use std::net::TcpStream;

use siwa_emulator::{ConfigBuilder, Emulator, RunningEmulator, TeamBuilder, UserBuilder};

use crate::cli::{fixture, make_secret, siwa, siwa_with, Run, CLIENT, TEAM};

const REDIRECT: &str = "https://app.example.com/auth/apple/callback";

/// An emulator serving on its own runtime's threads while the test runs `siwa`.
struct LocalApple {
    _runtime: tokio::runtime::Runtime,
    _running: RunningEmulator,
    base: String,
}

impl LocalApple {
    fn start() -> Self {
        let config = ConfigBuilder::new()
            .team(
                TeamBuilder::new(TEAM)
                    .key_file("ABC123DEFG", "AuthKey_ABC123DEFG.pub.pem")
                    .client(CLIENT, [REDIRECT]),
            )
            .user(UserBuilder::alice())
            .build(&fixture(""))
            .unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let running = runtime
            .block_on(
                Emulator::new(config)
                    .unwrap()
                    .start("127.0.0.1:0".parse().unwrap()),
            )
            .unwrap();
        let base = running.base_url();
        Self {
            _runtime: runtime,
            _running: running,
            base,
        }
    }

    /// A fresh authorization code for alice, through the URL `siwa authorize-url` prints.
    fn code(&self, api: &str) -> String {
        let run = siwa(&[
            "authorize-url",
            "--client-id",
            CLIENT,
            "--redirect-uri",
            REDIRECT,
            "--scope",
            "name email",
            "--state",
            "s1",
            "--apple-url",
            &self.base,
            "--api",
            api,
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let url = format!(
            "{}&emulator_user=alice&emulator_consent=share",
            run.stdout.trim()
        );
        let page = get(&url);
        let start = page
            .find(r#"name="code" value=""#)
            .unwrap_or_else(|| panic!("{page}"))
            + r#"name="code" value=""#.len();
        page[start..start + page[start..].find('"').unwrap()].to_owned()
    }

    /// SIWA_* settings of a client that the emulator knows.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SIWA_TEAM_ID", TEAM.to_owned()),
            ("SIWA_CLIENT_ID", CLIENT.to_owned()),
            (
                "SIWA_PRIVATE_KEY",
                fixture("AuthKey_ABC123DEFG.p8")
                    .to_str()
                    .unwrap()
                    .to_owned(),
            ),
            ("SIWA_APPLE_BASE_URL", self.base.clone()),
        ]
    }

    fn siwa(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        siwa_with(args, &env, stdin)
    }
}

/// A plain HTTP/1.1 GET; the whole response as text.
fn get(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"))
}

fn probe_check(report: &serde_json::Value) -> &serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "apple.probe")
        .unwrap_or_else(|| panic!("no apple.probe in {report}"))
}

#[test]
fn exchange_refresh_revoke_against_the_emulator() {
    let apple = LocalApple::start();
    for api in ["sign-in-with-apple", "org-data-sharing"] {
        let code = apple.code(api);
        let run = apple.siwa(
            &[
                "exchange",
                "--code",
                &code,
                "--redirect-uri",
                REDIRECT,
                "--api",
                api,
                "--json",
            ],
            None,
        );
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.stdout.lines().count(), 1, "--json is one line");
        let tokens = json(&run);
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["expires_in"], 3600);
        assert!(tokens["id_token"].as_str().unwrap().starts_with("eyJ"));
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

        // The same code again: Apple says no, exit 1, and the code is not echoed.
        let again = apple.siwa(
            &[
                "exchange",
                "--code",
                &code,
                "--redirect-uri",
                REDIRECT,
                "--api",
                api,
            ],
            None,
        );
        assert_eq!(again.code, 1, "{again:?}");
        assert!(again.stderr.contains("invalid_grant"), "{}", again.stderr);
        assert!(
            again.stderr.contains("hint:") && again.stderr.contains("already used"),
            "{}",
            again.stderr
        );
        assert!(!again.stderr.contains(&code) && again.stdout.is_empty());

        // Refresh, the token on stdin: no refresh_token in the answer.
        let run = apple.siwa(
            &["refresh", "--refresh-token", "-", "--api", api],
            Some(&format!("{refresh}\n")),
        );
        assert_eq!(run.code, 0, "{run:?}");
        let fresh = json(&run);
        assert!(fresh.get("refresh_token").is_none(), "{fresh}");
        assert!(fresh["access_token"].is_string());

        let run = apple.siwa(
            &["revoke", "--token", &refresh, "--api", api, "--json"],
            None,
        );
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(
            json(&run),
            serde_json::json!({"revoked": true, "token_type_hint": "refresh_token"})
        );
        let run = apple.siwa(
            &[
                "revoke",
                "--token",
                &refresh,
                "--hint",
                "refresh_token",
                "--api",
                api,
            ],
            None,
        );
        assert_eq!(run.code, 0, "revoke is idempotent: {run:?}");

        let run = apple.siwa(
            &["refresh", "--refresh-token", &refresh, "--api", api],
            None,
        );
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains("invalid_grant"), "{}", run.stderr);
        assert!(!run.stderr.contains(&refresh), "{}", run.stderr);
    }
}

#[test]
fn a_secret_apple_rejects_is_exit_1_with_the_doctor_hint() {
    let apple = LocalApple::start();
    let code = apple.code("sign-in-with-apple");
    let run = apple.siwa(
        &[
            "exchange",
            "--code",
            &code,
            "--redirect-uri",
            REDIRECT,
            "--key-id",
            "ZZZ999YYYX",
        ],
        None,
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("invalid_client"), "{}", run.stderr);
    assert!(run.stderr.contains("siwa doctor"), "{}", run.stderr);
    assert!(!run.stderr.contains(&code));
}

#[test]
fn doctor_probe_passes_a_good_secret() {
    let apple = LocalApple::start();
    let secret = make_secret(&[]);
    let run = siwa(&[
        "doctor",
        &secret,
        "--probe",
        "--apple-url",
        &apple.base,
        "--json",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = json(&run);
    assert_eq!(report["ok"], true);
    let check = probe_check(&report);
    assert_eq!(check["status"], "pass", "{check}");
    assert!(
        check["message"].as_str().unwrap().contains("/auth/token"),
        "{check}"
    );

    // Without a JWT, the doctor makes one from the SIWA_* settings; the v2 family too.
    let run = apple.siwa(
        &["doctor", "--probe", "--api", "org-data-sharing", "--json"],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
    let report = json(&run);
    assert_eq!(probe_check(&report)["status"], "pass", "{report}");
    assert!(probe_check(&report)["message"]
        .as_str()
        .unwrap()
        .contains("/auth/oauth2/v2/token"));

    // The human checklist shows the check.
    let run = siwa(&["doctor", &secret, "--probe", "--apple-url", &apple.base]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("apple.probe"), "{}", run.stdout);
}

#[test]
fn doctor_probe_fails_a_broken_secret_with_the_emulators_reason() {
    let apple = LocalApple::start();
    // Well formed and well signed, but for a Key ID the team does not have:
    // the offline checks cannot know, Apple can.
    let secret = make_secret(&["--key-id", "ZZZ999YYYX"]);
    let run = siwa(&[
        "doctor",
        &secret,
        "--probe",
        "--apple-url",
        &apple.base,
        "--json",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let report = json(&run);
    assert_eq!(report["ok"], false);
    let check = probe_check(&report);
    assert_eq!(check["status"], "fail", "{check}");
    let message = check["message"].as_str().unwrap();
    assert!(message.contains("invalid_client"), "{message}");
    assert!(
        message.contains("ZZZ999YYYX"),
        "the emulator's reason: {message}"
    );
    assert!(!message.contains(&secret));
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["apple.probe"]);
}

#[test]
fn doctor_probe_without_an_answer_warns() {
    let secret = make_secret(&[]);
    let run = siwa(&[
        "doctor",
        &secret,
        "--probe",
        "--apple-url",
        "http://127.0.0.1:1",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = json(&run);
    let check = probe_check(&report);
    assert_eq!(check["status"], "warn", "{check}");
    assert!(
        check["message"].as_str().unwrap().contains("no verdict"),
        "{check}"
    );
}

#[test]
fn client_commands_report_usage_errors_with_exit_2() {
    let key = fixture("AuthKey_ABC123DEFG.p8");
    let key = key.to_str().unwrap();
    let base = ["--team-id", TEAM, "--client-id", CLIENT, "--key", key];
    let with = |extra: &[&str]| {
        let mut args = extra.to_vec();
        args.extend_from_slice(&base);
        siwa(&args)
    };
    // No key.
    let run = siwa(&[
        "exchange",
        "--code",
        "c",
        "--team-id",
        TEAM,
        "--client-id",
        CLIENT,
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no private key"), "{}", run.stderr);
    // A base URL that is not one.
    let run = with(&[
        "refresh",
        "--refresh-token",
        "r",
        "--apple-url",
        "appleid.apple.com",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--apple-url"), "{}", run.stderr);
    // Nobody listening: no answer is not Apple's verdict.
    let run = with(&[
        "revoke",
        "--token",
        "r-secret-value",
        "--apple-url",
        "http://127.0.0.1:1",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no answer"), "{}", run.stderr);
    assert!(!run.stderr.contains("r-secret-value"));
    // A redirect URI that is not a URL; an empty code.
    let run = with(&["exchange", "--code", "c", "--redirect-uri", "/callback"]);
    assert_eq!(run.code, 2, "{run:?}");
    let run = siwa_with(
        &[
            "exchange",
            "--code",
            "-",
            "--team-id",
            TEAM,
            "--client-id",
            CLIENT,
            "--key",
            key,
        ],
        &[],
        Some("\n"),
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("empty"), "{}", run.stderr);
}

#[test]
fn authorize_url_needs_no_key() {
    let run = siwa(&[
        "authorize-url",
        "--client-id",
        CLIENT,
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "name email",
        "--state",
        "a b",
        "--nonce",
        "n&1",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout.trim(),
        "https://appleid.apple.com/auth/authorize?client_id=com.example.web\
         &redirect_uri=https%3A%2F%2Fapp.example.com%2Fauth%2Fapple%2Fcallback\
         &response_type=code&response_mode=form_post&scope=name%20email&state=a%20b&nonce=n%261"
    );
    let run = siwa_with(
        &[
            "authorize-url",
            "--redirect-uri",
            REDIRECT,
            "--api",
            "org-data-sharing",
            "--json",
        ],
        &[
            ("SIWA_CLIENT_ID", CLIENT),
            ("SIWA_APPLE_BASE_URL", "http://127.0.0.1:9"),
        ],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        json(&run)["url"],
        "http://127.0.0.1:9/auth/oauth2/v2/authorize?client_id=com.example.web\
         &redirect_uri=https%3A%2F%2Fapp.example.com%2Fauth%2Fapple%2Fcallback\
         &response_type=code&response_mode=query"
    );
    // Apple requires form_post with a scope.
    let run = siwa(&[
        "authorize-url",
        "--client-id",
        CLIENT,
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "email",
        "--response-mode",
        "query",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("form_post"), "{}", run.stderr);
    let run = siwa(&["authorize-url", "--redirect-uri", REDIRECT]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("client id"), "{}", run.stderr);
}
