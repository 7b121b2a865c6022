use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::pkcs8::DecodePublicKey;

use crate::cli::{fixture, make_secret, openssl, siwa, siwa_with, CLIENT, TEAM};

fn b64json(segment: &str) -> serde_json::Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

/// The independent check: openssl derives the public key from the .p8, and
/// the `p256` crate (not our verifier) checks the signature.
#[test]
fn secret_verifies_with_p256_against_the_openssl_public_key() {
    let key = fixture("AuthKey_ABC123DEFG.p8");
    let Some(public_pem) = openssl(&["ec", "-in", key.to_str().unwrap(), "-pubout"]) else {
        return;
    };
    let jwt = make_secret(&[]);
    let segments: Vec<&str> = jwt.split('.').collect();
    assert_eq!(segments.len(), 3);
    let signature = URL_SAFE_NO_PAD.decode(segments[2]).unwrap();
    assert_eq!(signature.len(), 64);
    let verifying = p256::ecdsa::VerifyingKey::from_public_key_pem(&public_pem).unwrap();
    let signature = p256::ecdsa::Signature::from_slice(&signature).unwrap();
    let input = format!("{}.{}", segments[0], segments[1]);
    verifying.verify(input.as_bytes(), &signature).unwrap();

    assert_eq!(
        b64json(segments[0]),
        serde_json::json!({"alg": "ES256", "kid": "ABC123DEFG"})
    );
    let claims = b64json(segments[1]);
    let mut names: Vec<&String> = claims.as_object().unwrap().keys().collect();
    names.sort();
    assert_eq!(names, ["aud", "exp", "iat", "iss", "sub"]);
    assert_eq!(claims["iss"], TEAM);
    assert_eq!(claims["sub"], CLIENT);
    assert_eq!(claims["aud"], "https://appleid.apple.com");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        180 * 86_400
    );
}

#[test]
fn json_output_has_the_documented_fields() {
    let key = fixture("AuthKey_ABC123DEFG.p8");
    let run = siwa(&[
        "secret",
        "--team-id",
        TEAM,
        "--client-id",
        CLIENT,
        "--key",
        key.to_str().unwrap(),
        "--ttl",
        "10m",
        "--now",
        "1700000000",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(out["ttl"], 600);
    assert_eq!(out["expires_at"], 1_700_000_000 - 60 + 600);
    assert_eq!(out["expires_at_iso"], "2023-11-14T22:22:20Z");
    let jwt = out["client_secret"].as_str().unwrap();
    let claims = b64json(jwt.split('.').nth(1).unwrap());
    assert_eq!(claims["iat"], 1_700_000_000 - 60);
}

#[test]
fn ttl_of_exactly_the_limit_is_accepted_and_one_more_is_refused() {
    let jwt = make_secret(&["--ttl", "15777000"]);
    let claims = b64json(jwt.split('.').nth(1).unwrap());
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        15_777_000
    );

    let key = fixture("AuthKey_ABC123DEFG.p8");
    for ttl in ["15777001", "183d", "0", "ten", "-5"] {
        let run = siwa(&[
            "secret",
            "--team-id",
            TEAM,
            "--client-id",
            CLIENT,
            "--key",
            key.to_str().unwrap(),
            "--ttl",
            ttl,
        ]);
        assert_eq!(run.code, 2, "--ttl {ttl}: {}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    let run = siwa(&[
        "secret",
        "--team-id",
        TEAM,
        "--client-id",
        CLIENT,
        "--key",
        key.to_str().unwrap(),
        "--ttl",
        "15777001",
    ]);
    assert!(run.stderr.contains("15777000"), "{}", run.stderr);
}

#[test]
fn bad_key_files_are_refused_with_a_one_line_cause() {
    let cases = [
        ("garbage.txt", "no PEM block"),
        ("does-not-exist.p8", "no such file"),
        ("rsa_pkcs8.pem", "RSA"),
        ("rsa_pkcs1.pem", "RSA"),
        ("AuthKey_ABC123DEFG.pub.pem", "public key"),
        ("certificate.pem", "certificate"),
        ("truncated.p8", "truncated"),
        ("p384.pem", "P-384"),
        ("encrypted.pem", "encrypted"),
    ];
    for (name, cause) in cases {
        let key = fixture(name);
        let run = siwa(&[
            "secret",
            "--team-id",
            TEAM,
            "--key-id",
            "ABC123DEFG",
            "--client-id",
            CLIENT,
            "--key",
            key.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 2, "{name}: {}", run.stderr);
        let first = run.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: ") && first.contains(cause),
            "{name}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty());
    }
    let dir = fixture("");
    let run = siwa(&[
        "secret",
        "--team-id",
        TEAM,
        "--key-id",
        "ABC123DEFG",
        "--client-id",
        CLIENT,
        "--key",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("directory"), "{}", run.stderr);
}

#[test]
fn ids_of_the_wrong_shape_are_refused() {
    let key = fixture("AuthKey_ABC123DEFG.p8");
    let key = key.to_str().unwrap();
    for args in [
        ["--team-id", "DEF123GHI", "--client-id", CLIENT],
        ["--team-id", "def123ghij", "--client-id", CLIENT],
        ["--team-id", TEAM, "--client-id", "has space"],
    ] {
        let mut all = vec!["secret", "--key", key];
        all.extend(args);
        let run = siwa(&all);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    }
    let run = siwa(&[
        "secret",
        "--key",
        key,
        "--team-id",
        TEAM,
        "--client-id",
        CLIENT,
        "--key-id",
        "SHORT",
    ]);
    assert_eq!(run.code, 2);
}

#[test]
fn missing_settings_name_flag_and_variable() {
    let key = fixture("AuthKey_ABC123DEFG.p8");
    let run = siwa(&[
        "secret",
        "--key",
        key.to_str().unwrap(),
        "--client-id",
        CLIENT,
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--team-id") && run.stderr.contains("SIWA_TEAM_ID"),
        "{}",
        run.stderr
    );
    // A key file not named AuthKey_<KEYID>.p8 needs an explicit Key ID.
    let sec1 = fixture("ec_sec1.pem");
    let run = siwa(&[
        "secret",
        "--key",
        sec1.to_str().unwrap(),
        "--team-id",
        TEAM,
        "--client-id",
        CLIENT,
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("SIWA_KEY_ID"), "{}", run.stderr);
}

#[test]
fn settings_come_from_the_environment() {
    let key = fixture("AuthKey_ABC123DEFG.p8");
    let run = siwa_with(
        &["secret", "--json"],
        &[
            ("SIWA_TEAM_ID", TEAM),
            ("SIWA_KEY_ID", "ABC123DEFG"),
            ("SIWA_CLIENT_ID", "com.example.ios"),
            ("SIWA_PRIVATE_KEY", key.to_str().unwrap()),
        ],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let claims = b64json(
        out["client_secret"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap(),
    );
    assert_eq!(claims["sub"], "com.example.ios");
}

#[test]
fn key_id_mismatch_with_file_name_is_warned() {
    let key = fixture("AuthKey_ABC123DEFG.p8");
    let run = siwa(&[
        "secret",
        "--team-id",
        TEAM,
        "--client-id",
        CLIENT,
        "--key-id",
        "ZZZ999YYYX",
        "--key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0);
    assert!(
        run.stderr.contains("warning") && run.stderr.contains("ABC123DEFG"),
        "{}",
        run.stderr
    );
}

#[test]
fn secret_never_reaches_stderr() {
    let key = fixture("AuthKey_ABC123DEFG.p8");
    let pem = std::fs::read_to_string(&key).unwrap();
    let body = pem.lines().nth(1).unwrap();
    let run = siwa(&[
        "secret",
        "--team-id",
        TEAM,
        "--client-id",
        CLIENT,
        "--key",
        key.to_str().unwrap(),
    ]);
    assert!(!run.stderr.contains(run.stdout.trim()));
    assert!(!run.stderr.contains(body));
}
