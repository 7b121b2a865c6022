use crate::cli::{fixture, openssl, siwa, siwa_with};

#[test]
fn pubkey_prints_what_openssl_prints() {
    for name in [
        "AuthKey_ABC123DEFG.p8",
        "AuthKey_ZZZ999YYYX.p8",
        "ec_sec1.pem",
    ] {
        let key = fixture(name);
        let key = key.to_str().unwrap();
        let ours = siwa(&["pubkey", "--key", key]);
        assert_eq!(ours.code, 0, "{}", ours.stderr);
        if let Some(theirs) = openssl(&["ec", "-in", key, "-pubout"]) {
            assert_eq!(ours.stdout, theirs, "{name}");
        }
    }
}

#[test]
fn pubkey_jwk_carries_the_kid_from_the_file_name() {
    let key = fixture("AuthKey_ABC123DEFG.p8");
    let run = siwa(&["pubkey", "--key", key.to_str().unwrap(), "--format", "jwk"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let jwk: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    assert_eq!(jwk["kid"], "ABC123DEFG");
}

#[test]
fn pubkey_reads_mangled_pem_from_the_environment() {
    let pem = std::fs::read_to_string(fixture("AuthKey_ABC123DEFG.p8")).unwrap();
    let want = siwa(&[
        "pubkey",
        "--key",
        fixture("AuthKey_ABC123DEFG.p8").to_str().unwrap(),
    ])
    .stdout;
    let escaped = format!("\"{}\"", pem.replace('\n', "\\n"));
    let run = siwa_with(&["pubkey"], &[("SIWA_PRIVATE_KEY", &escaped)], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, want);
}

#[test]
fn pubkey_without_a_key_is_a_usage_error() {
    let run = siwa(&["pubkey"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("SIWA_PRIVATE_KEY"), "{}", run.stderr);
}
