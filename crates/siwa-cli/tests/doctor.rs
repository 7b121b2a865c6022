use crate::cli::{fixture, make_secret, siwa, siwa_with, CLIENT, TEAM};

fn doctor_json(args: &[&str], stdin: Option<&str>) -> (i32, serde_json::Value, String) {
    let mut all = vec!["doctor", "--json"];
    all.extend_from_slice(args);
    let run = siwa_with(&all, &[], stdin);
    let json = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"));
    (run.code, json, run.stderr)
}

#[test]
fn a_fresh_secret_is_ok() {
    let jwt = make_secret(&[]);
    let key = fixture("AuthKey_ABC123DEFG.p8");
    let (code, report, _) = doctor_json(
        &[
            &jwt,
            "--key",
            key.to_str().unwrap(),
            "--team-id",
            TEAM,
            "--client-id",
            CLIENT,
            "--key-id",
            "ABC123DEFG",
        ],
        None,
    );
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["ok"], true);
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "pass"),
        "{report:#}"
    );
}

#[test]
fn reads_the_token_from_stdin() {
    let jwt = make_secret(&[]);
    let public = fixture("AuthKey_ABC123DEFG.pub.pem");
    let (code, report, _) = doctor_json(
        &["-", "--public-key", public.to_str().unwrap()],
        Some(&format!("{jwt}\n")),
    );
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["ok"], true);
}

#[test]
fn an_expired_secret_fails_with_exit_1() {
    let jwt = make_secret(&["--ttl", "10m", "--now", "1700000000"]);
    let (code, report, _) = doctor_json(&[&jwt, "--now", "1700086400"], None);
    assert_eq!(code, 1);
    assert_eq!(report["ok"], false);
    let exp = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "payload.exp")
        .unwrap();
    assert_eq!(exp["status"], "fail");
    assert!(!exp["hint"].as_str().unwrap().is_empty());
}

#[test]
fn another_key_or_client_fails() {
    let jwt = make_secret(&[]);
    let other = fixture("AuthKey_ZZZ999YYYX.p8");
    let (code, report, _) = doctor_json(
        &[
            &jwt,
            "--key",
            other.to_str().unwrap(),
            "--client-id",
            "com.example.ios",
        ],
        None,
    );
    assert_eq!(code, 1);
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["header.kid", "payload.sub", "signature.verify"]);
}

#[test]
fn not_a_jwt_is_judged_not_a_usage_error() {
    let (code, report, _) = doctor_json(&["not-a-jwt"], None);
    assert_eq!(code, 1);
    assert_eq!(report["checks"][0]["id"], "format");
    assert_eq!(report["checks"][0]["status"], "fail");
}

#[test]
fn human_checklist_without_a_terminal_has_no_color() {
    let jwt = make_secret(&[]);
    let run = siwa(&["doctor", &jwt, "--client-id", "com.Example.web"]);
    assert_eq!(run.code, 1);
    assert!(!run.stdout.contains('\x1b'), "{}", run.stdout);
    assert!(run.stdout.contains("✗ payload.sub"), "{}", run.stdout);
    assert!(run.stdout.contains("only by case"), "{}", run.stdout);
    assert!(run.stdout.contains("invalid_client"), "{}", run.stdout);
}

#[test]
fn usage_errors_exit_2() {
    let jwt = make_secret(&[]);
    let garbage = fixture("garbage.txt");
    let run = siwa(&["doctor", &jwt, "--key", garbage.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = siwa(&["doctor", &jwt, "--now", "yesterday"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = siwa(&["doctor", &jwt, "--key", "a.p8", "--public-key", "b.pem"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}
