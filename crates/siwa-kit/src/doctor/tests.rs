//! Each classic mistake, crafted by hand (JSON text signed with the `p256`
//! crate, not with our builder), must fail its own check with a hint.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::DecodePrivateKey;

use super::*;
use crate::p8::SigningKey;

const KEY: &str = include_str!("../../tests/fixtures/AuthKey_ABC123DEFG.p8");
const OTHER_KEY: &str = include_str!("../../tests/fixtures/AuthKey_ZZZ999YYYX.p8");
const NOW: u64 = 1_750_000_000;
const GOOD_HEADER: &str = r#"{"alg":"ES256","kid":"ABC123DEFG"}"#;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn claims(iat: &str, exp: &str, aud: &str, sub: &str) -> String {
    format!(r#"{{"iss":"DEF123GHIJ","iat":{iat},"exp":{exp},"aud":{aud},"sub":{sub}}}"#)
}

fn good_claims() -> String {
    claims(
        &(NOW - 60).to_string(),
        &(NOW + 3600).to_string(),
        r#""https://appleid.apple.com""#,
        r#""com.example.web""#,
    )
}

enum Sig {
    Raw,
    Der,
    Hmac,
}

fn craft_with(pem: &str, header: &str, payload: &str, sig: Sig) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let key = p256::ecdsa::SigningKey::from_pkcs8_pem(pem).unwrap();
    let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
    let bytes = match sig {
        Sig::Raw => signature.to_bytes().to_vec(),
        Sig::Der => signature.to_der().as_bytes().to_vec(),
        Sig::Hmac => {
            let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, pem.as_bytes());
            aws_lc_rs::hmac::sign(&k, input.as_bytes())
                .as_ref()
                .to_vec()
        }
    };
    format!("{input}.{}", b64(&bytes))
}

fn craft(header: &str, payload: &str) -> String {
    craft_with(KEY, header, payload, Sig::Raw)
}

fn doctor() -> Doctor {
    let key = SigningKey::from_pem(KEY).unwrap().public_key().clone();
    Doctor::new()
        .team_id("DEF123GHIJ")
        .client_id("com.example.web")
        .key(ExpectedKey::new(
            key,
            "AuthKey_ABC123DEFG.p8",
            KeyId::new("ABC123DEFG").ok(),
        ))
}

fn examine(token: &str) -> Report {
    doctor().examine(token, UnixTime::from_secs(NOW))
}

/// The check `id` failed with a hint, the report is not ok, and every
/// other check passed or was skipped.
#[track_caller]
fn assert_fails(token: &str, id: CheckId) -> Check {
    let report = examine(token);
    let check = report.check(id).unwrap().clone();
    assert_eq!(check.status, Status::Fail, "{id:?}: {report:#?}");
    assert!(!check.hint.is_empty(), "{id:?} has no hint");
    assert!(!report.ok);
    check
}

#[test]
fn a_correct_secret_passes_every_check() {
    let report = examine(&craft(GOOD_HEADER, &good_claims()));
    assert!(report.ok, "{report:#?}");
    assert_eq!(report.checks.len(), 11);
    assert!(
        report.checks.iter().all(|c| c.status == Status::Pass),
        "{report:#?}"
    );
}

#[test]
fn typ_header_is_fine() {
    let report = examine(&craft(
        r#"{"alg":"ES256","kid":"ABC123DEFG","typ":"JWT"}"#,
        &good_claims(),
    ));
    assert!(report.ok, "{report:#?}");
}

#[test]
fn milliseconds_instead_of_seconds() {
    let ms = claims(
        &((NOW - 60) * 1000).to_string(),
        &((NOW + 3600) * 1000).to_string(),
        r#""https://appleid.apple.com""#,
        r#""com.example.web""#,
    );
    let token = craft(GOOD_HEADER, &ms);
    assert!(assert_fails(&token, CheckId::PayloadIat)
        .message
        .contains("milliseconds"));
    assert!(assert_fails(&token, CheckId::PayloadExp)
        .message
        .contains("milliseconds"));
}

#[test]
fn numbers_sent_as_strings() {
    let strings = claims(
        &format!("\"{}\"", NOW - 60),
        &format!("\"{}\"", NOW + 3600),
        r#""https://appleid.apple.com""#,
        r#""com.example.web""#,
    );
    let token = craft(GOOD_HEADER, &strings);
    assert!(assert_fails(&token, CheckId::PayloadIat)
        .message
        .contains("number sent as a string"));
    assert!(assert_fails(&token, CheckId::PayloadExp)
        .message
        .contains("number sent as a string"));
}

#[test]
fn fractional_seconds() {
    let float = claims(
        "1749999940.25",
        &(NOW + 3600).to_string(),
        r#""https://appleid.apple.com""#,
        r#""com.example.web""#,
    );
    assert!(
        assert_fails(&craft(GOOD_HEADER, &float), CheckId::PayloadIat)
            .message
            .contains("fractional")
    );
}

fn with_aud(aud: &str) -> String {
    craft(
        GOOD_HEADER,
        &claims(
            &(NOW - 60).to_string(),
            &(NOW + 3600).to_string(),
            aud,
            r#""com.example.web""#,
        ),
    )
}

#[test]
fn aud_without_scheme() {
    let check = assert_fails(&with_aud(r#""appleid.apple.com""#), CheckId::PayloadAud);
    assert!(check.message.contains("no scheme"), "{check:?}");
}

#[test]
fn aud_with_trailing_slash() {
    let check = assert_fails(
        &with_aud(r#""https://appleid.apple.com/""#),
        CheckId::PayloadAud,
    );
    assert!(check.message.contains("trailing slash"), "{check:?}");
}

#[test]
fn aud_http_endpoint_or_array() {
    assert!(assert_fails(
        &with_aud(r#""http://appleid.apple.com""#),
        CheckId::PayloadAud
    )
    .message
    .contains("http://"));
    assert!(assert_fails(
        &with_aud(r#""https://appleid.apple.com/auth/token""#),
        CheckId::PayloadAud
    )
    .message
    .contains("endpoint"));
    assert!(assert_fails(
        &with_aud(r#"["https://appleid.apple.com"]"#),
        CheckId::PayloadAud
    )
    .message
    .contains("array"));
}

fn with_sub(sub: &str) -> String {
    craft(
        GOOD_HEADER,
        &claims(
            &(NOW - 60).to_string(),
            &(NOW + 3600).to_string(),
            r#""https://appleid.apple.com""#,
            sub,
        ),
    )
}

#[test]
fn sub_differs_only_by_case() {
    let check = assert_fails(&with_sub(r#""com.Example.web""#), CheckId::PayloadSub);
    assert!(check.message.contains("only by case"), "{check:?}");
}

#[test]
fn sub_with_team_prefix_or_other_client() {
    assert!(assert_fails(
        &with_sub(r#""DEF123GHIJ.com.example.web""#),
        CheckId::PayloadSub
    )
    .message
    .contains("Team ID"));
    assert!(
        assert_fails(&with_sub(r#""com.example.ios""#), CheckId::PayloadSub)
            .message
            .contains("com.example.ios")
    );
}

#[test]
fn sub_missing() {
    let payload = format!(
        r#"{{"iss":"DEF123GHIJ","iat":{},"exp":{},"aud":"https://appleid.apple.com"}}"#,
        NOW - 60,
        NOW + 3600
    );
    let check = assert_fails(&craft(GOOD_HEADER, &payload), CheckId::PayloadSub);
    assert!(check.message.contains("no sub"));
}

#[test]
fn der_signature_the_openssl_sign_mistake() {
    let token = craft_with(KEY, GOOD_HEADER, &good_claims(), Sig::Der);
    let check = assert_fails(&token, CheckId::SignatureEncoding);
    assert!(check.message.contains("DER"), "{check:?}");
    assert!(check.message.contains("openssl_sign"), "{check:?}");
    // The key is right, only the encoding is wrong: say so.
    let report = examine(&token);
    assert_eq!(
        report.check(CheckId::SignatureVerify).unwrap().status,
        Status::Warn
    );
}

#[test]
fn kid_does_not_match_key_file_name() {
    let token = craft(r#"{"alg":"ES256","kid":"ZZZ999YYYX"}"#, &good_claims());
    let check = assert_fails(&token, CheckId::HeaderKid);
    assert!(check.message.contains("AuthKey_ABC123DEFG.p8"), "{check:?}");
}

#[test]
fn kid_missing_or_malformed() {
    assert!(assert_fails(
        &craft(r#"{"alg":"ES256"}"#, &good_claims()),
        CheckId::HeaderKid
    )
    .message
    .contains("no kid"));
    assert_fails(
        &craft(r#"{"alg":"ES256","kid":"abc123defg"}"#, &good_claims()),
        CheckId::HeaderKid,
    );
    let with_expected = doctor().key_id("QQQ111WWWE");
    let report = with_expected.examine(
        &craft(GOOD_HEADER, &good_claims()),
        UnixTime::from_secs(NOW),
    );
    assert_eq!(
        report.check(CheckId::HeaderKid).unwrap().status,
        Status::Fail
    );
}

#[test]
fn signed_by_another_key() {
    let token = craft_with(OTHER_KEY, GOOD_HEADER, &good_claims(), Sig::Raw);
    let check = assert_fails(&token, CheckId::SignatureVerify);
    assert!(check.message.contains("does not verify"), "{check:?}");
}

#[test]
fn tampered_after_signing() {
    let token = craft(GOOD_HEADER, &good_claims());
    let (input, sig) = token.rsplit_once('.').unwrap();
    let (header, _) = input.split_once('.').unwrap();
    let other = b64(good_claims().replace("DEF123GHIJ", "DEF123GHIK").as_bytes());
    let tampered = format!("{header}.{other}.{sig}");
    let report = doctor()
        .team_id("DEF123GHIK")
        .examine(&tampered, UnixTime::from_secs(NOW));
    assert_eq!(
        report.check(CheckId::SignatureVerify).unwrap().status,
        Status::Fail
    );
    assert_eq!(
        report
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count(),
        1
    );
}

#[test]
fn expired() {
    let payload = claims(
        &(NOW - 7200).to_string(),
        &(NOW - 3600).to_string(),
        r#""https://appleid.apple.com""#,
        r#""com.example.web""#,
    );
    let check = assert_fails(&craft(GOOD_HEADER, &payload), CheckId::PayloadExp);
    assert!(check.message.contains("expired"), "{check:?}");
}

#[test]
fn living_past_six_months() {
    let payload = claims(
        &(NOW - 60).to_string(),
        &(NOW - 60 + 15_777_001).to_string(),
        r#""https://appleid.apple.com""#,
        r#""com.example.web""#,
    );
    let check = assert_fails(&craft(GOOD_HEADER, &payload), CheckId::PayloadExp);
    assert!(check.message.contains("15777000"), "{check:?}");
    // Exactly the limit is fine.
    let payload = claims(
        &(NOW - 60).to_string(),
        &(NOW - 60 + 15_777_000).to_string(),
        r#""https://appleid.apple.com""#,
        r#""com.example.web""#,
    );
    assert!(examine(&craft(GOOD_HEADER, &payload)).ok);
}

#[test]
fn iat_in_the_future() {
    let payload = claims(
        &(NOW + 600).to_string(),
        &(NOW + 3600).to_string(),
        r#""https://appleid.apple.com""#,
        r#""com.example.web""#,
    );
    let check = assert_fails(&craft(GOOD_HEADER, &payload), CheckId::PayloadIat);
    assert!(check.message.contains("future"), "{check:?}");
}

#[test]
fn a_clock_at_the_end_of_time_is_judged_not_overflowed() {
    // Found by fuzz/ (target doctor): `now + 60` overflowed for a `--now`
    // near u64::MAX (a panic in debug builds, a wrapped verdict in release).
    let token = craft(GOOD_HEADER, &good_claims());
    for now in [u64::MAX, u64::MAX - 60, u64::MAX - 59] {
        let report = doctor().examine(&token, UnixTime::from_secs(now));
        assert_eq!(
            report.check(CheckId::PayloadIat).unwrap().status,
            Status::Pass
        );
        let exp = report.check(CheckId::PayloadExp).unwrap();
        assert_eq!(exp.status, Status::Fail);
        assert!(exp.message.contains("expired"), "{exp:?}");
    }
}

#[test]
fn alg_hs256() {
    let token = craft_with(
        KEY,
        r#"{"alg":"HS256","kid":"ABC123DEFG"}"#,
        &good_claims(),
        Sig::Hmac,
    );
    let check = assert_fails(&token, CheckId::HeaderAlg);
    assert!(check.message.contains("HS256"));
    assert_fails(&token, CheckId::SignatureEncoding);
    assert_eq!(
        examine(&token)
            .check(CheckId::SignatureVerify)
            .unwrap()
            .status,
        Status::Skip
    );
}

#[test]
fn alg_none_or_lowercase() {
    assert_fails(
        &craft(r#"{"alg":"none","kid":"ABC123DEFG"}"#, &good_claims()),
        CheckId::HeaderAlg,
    );
    assert!(assert_fails(
        &craft(r#"{"alg":"es256","kid":"ABC123DEFG"}"#, &good_claims()),
        CheckId::HeaderAlg
    )
    .message
    .contains("case"));
}

#[test]
fn iss_of_another_team() {
    let payload = good_claims().replace("DEF123GHIJ", "OTHER12345");
    let check = assert_fails(&craft(GOOD_HEADER, &payload), CheckId::PayloadIss);
    assert!(check.message.contains("another team"), "{check:?}");
    let payload = good_claims().replace("\"DEF123GHIJ\"", "\"com.example.web\"");
    assert!(
        assert_fails(&craft(GOOD_HEADER, &payload), CheckId::PayloadIss)
            .hint
            .contains("Team ID")
    );
}

#[test]
fn extra_claims() {
    let payload = good_claims().replace("{\"iss\"", "{\"jti\":\"abc\",\"iss\"");
    let check = assert_fails(&craft(GOOD_HEADER, &payload), CheckId::PayloadClaims);
    assert!(check.message.contains("jti"), "{check:?}");
}

#[test]
fn not_a_jwt() {
    for input in [
        "hello",
        "",
        "a.b",
        "a.b.c.d.e",
        "!!!.###.$$$",
        "e30.bm90IGpzb24.AA",
    ] {
        let report = examine(input);
        let format = report.check(CheckId::Format).unwrap();
        assert_eq!(format.status, Status::Fail, "{input:?}: {report:#?}");
        assert!(!format.hint.is_empty());
        assert!(!report.ok);
        assert_eq!(report.checks.len(), 11);
        assert!(report.checks[1..].iter().all(|c| c.status == Status::Skip));
    }
}

#[test]
fn padded_base64_is_a_warning_and_checks_go_on() {
    let token = craft(GOOD_HEADER, &good_claims());
    let (h, rest) = token.split_once('.').unwrap();
    let padded = format!("{h}{}.{rest}", "=".repeat((4 - h.len() % 4) % 4));
    let report = examine(&padded);
    if padded.len() != token.len() {
        assert_eq!(report.check(CheckId::Format).unwrap().status, Status::Warn);
    }
    assert_eq!(
        report.check(CheckId::PayloadSub).unwrap().status,
        Status::Pass
    );
}

#[test]
fn without_a_key_the_signature_check_is_skipped() {
    let report = Doctor::new().examine(
        &craft(GOOD_HEADER, &good_claims()),
        UnixTime::from_secs(NOW),
    );
    assert!(report.ok);
    let verify = report.check(CheckId::SignatureVerify).unwrap();
    assert_eq!(verify.status, Status::Skip);
    assert!(verify.hint.contains("--key"));
}

#[test]
fn json_shape_is_the_contract() {
    let report = examine(&craft(GOOD_HEADER, &good_claims()));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["ok"], true);
    let ids: Vec<&str> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "format",
            "header.alg",
            "header.kid",
            "payload.iss",
            "payload.iat",
            "payload.exp",
            "payload.aud",
            "payload.sub",
            "payload.claims",
            "signature.encoding",
            "signature.verify"
        ]
    );
    for check in json["checks"].as_array().unwrap() {
        let keys: Vec<&String> = check.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 4);
        assert_eq!(check["status"], "pass");
    }
}

#[test]
fn report_never_holds_the_signature() {
    let token = craft(GOOD_HEADER, &good_claims());
    let sig = token.rsplit('.').next().unwrap();
    let json = serde_json::to_string(&examine(&token)).unwrap();
    assert!(!json.contains(sig));
}
