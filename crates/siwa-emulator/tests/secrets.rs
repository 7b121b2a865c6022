//! Each broken client_secret of the doctor's cases is `invalid_client`, with the reason.

use crate::support::{craft, Apple, Sign, REDIRECT, TEAM, WEB};

const GOOD_HEADER: &str = r#"{"alg":"ES256","kid":"ABC123DEFG"}"#;

fn claims(iat: i64, exp: i64, aud: &str, sub: &str, iss: &str) -> String {
    format!(r#"{{"iss":"{iss}","iat":{iat},"exp":{exp},"aud":{aud},"sub":{sub}}}"#)
}

#[tokio::test]
async fn broken_client_secrets_are_invalid_client_with_the_reason() {
    let apple = Apple::start().await;
    let now = i64::try_from(apple.now()).unwrap();
    let aud = r#""https://appleid.apple.com""#;
    let sub = format!("\"{WEB}\"");
    let good = claims(now - 60, now + 600, aud, &sub, TEAM);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "a correct secret",
            craft(GOOD_HEADER, &good, Sign::Raw("AuthKey_ABC123DEFG.p8")),
            "",
        ),
        (
            "alg HS256",
            craft(
                r#"{"alg":"HS256","kid":"ABC123DEFG"}"#,
                &good,
                Sign::Raw("AuthKey_ABC123DEFG.p8"),
            ),
            "alg",
        ),
        (
            "kid missing",
            craft(
                r#"{"alg":"ES256"}"#,
                &good,
                Sign::Raw("AuthKey_ABC123DEFG.p8"),
            ),
            "no kid",
        ),
        (
            "kid of another team",
            craft(
                r#"{"alg":"ES256","kid":"ZZZ999YYYX"}"#,
                &good,
                Sign::Raw("AuthKey_ZZZ999YYYX.p8"),
            ),
            "not a key of team",
        ),
        (
            "iss of another team",
            craft(
                GOOD_HEADER,
                &claims(now - 60, now + 600, aud, &sub, "OTHER12345"),
                Sign::Raw("AuthKey_ABC123DEFG.p8"),
            ),
            "iss",
        ),
        (
            "aud without scheme",
            craft(
                GOOD_HEADER,
                &claims(now - 60, now + 600, r#""appleid.apple.com""#, &sub, TEAM),
                Sign::Raw("AuthKey_ABC123DEFG.p8"),
            ),
            "aud",
        ),
        (
            "aud with trailing slash",
            craft(
                GOOD_HEADER,
                &claims(
                    now - 60,
                    now + 600,
                    r#""https://appleid.apple.com/""#,
                    &sub,
                    TEAM,
                ),
                Sign::Raw("AuthKey_ABC123DEFG.p8"),
            ),
            "aud",
        ),
        (
            "sub differs by case",
            craft(
                GOOD_HEADER,
                &claims(now - 60, now + 600, aud, r#""com.Example.web""#, TEAM),
                Sign::Raw("AuthKey_ABC123DEFG.p8"),
            ),
            "sub",
        ),
        (
            "sub missing",
            craft(
                GOOD_HEADER,
                &format!(
                    r#"{{"iss":"{TEAM}","iat":{},"exp":{},"aud":{aud}}}"#,
                    now - 60,
                    now + 600
                ),
                Sign::Raw("AuthKey_ABC123DEFG.p8"),
            ),
            "sub",
        ),
        (
            "milliseconds",
            craft(
                GOOD_HEADER,
                &claims((now - 60) * 1000, (now + 600) * 1000, aud, &sub, TEAM),
                Sign::Raw("AuthKey_ABC123DEFG.p8"),
            ),
            "future",
        ),
        (
            "numbers as strings",
            craft(
                GOOD_HEADER,
                &format!(
                    r#"{{"iss":"{TEAM}","iat":"{}","exp":"{}","aud":{aud},"sub":{sub}}}"#,
                    now - 60,
                    now + 600
                ),
                Sign::Raw("AuthKey_ABC123DEFG.p8"),
            ),
            "not a number",
        ),
        (
            "iat in the future",
            craft(
                GOOD_HEADER,
                &claims(now + 600, now + 1200, aud, &sub, TEAM),
                Sign::Raw("AuthKey_ABC123DEFG.p8"),
            ),
            "future",
        ),
        (
            "expired",
            craft(
                GOOD_HEADER,
                &claims(now - 1200, now - 600, aud, &sub, TEAM),
                Sign::Raw("AuthKey_ABC123DEFG.p8"),
            ),
            "expired",
        ),
        (
            "past six months",
            craft(
                GOOD_HEADER,
                &claims(now - 60, now - 60 + 15_777_001, aud, &sub, TEAM),
                Sign::Raw("AuthKey_ABC123DEFG.p8"),
            ),
            "15777000",
        ),
        (
            "DER signature",
            craft(GOOD_HEADER, &good, Sign::Der),
            "64-byte",
        ),
        (
            "signed by another key",
            craft(GOOD_HEADER, &good, Sign::Raw("AuthKey_ZZZ999YYYX.p8")),
            "does not verify",
        ),
        ("not a JWT", "not-a-jwt".to_owned(), "segments"),
    ];
    for (name, secret, reason) in cases {
        let code = apple.web_sign_in("alice").await["code"].clone();
        let reply = apple
            .post_form(
                "/auth/token",
                &[
                    ("client_id", WEB),
                    ("client_secret", &secret),
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                ],
            )
            .await;
        if reason.is_empty() {
            assert_eq!(reply.status, 200, "{name}: {reply:?}");
            continue;
        }
        reply.assert_error("invalid_client");
        let got = reply.reason.clone().unwrap_or_default();
        assert!(
            got.contains(reason),
            "{name}: reason {got:?} lacks {reason:?}"
        );
    }
}

#[tokio::test]
async fn secret_for_another_client_or_unknown_client_is_invalid_client() {
    let apple = Apple::start().await;
    let code = apple.web_sign_in("alice").await["code"].clone();
    let ios_secret = apple.secret("com.example.ios");
    let reply = apple
        .post_form(
            "/auth/token",
            &[
                ("client_id", WEB),
                ("client_secret", &ios_secret),
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    reply.assert_error("invalid_client");
    let unknown = apple
        .post_form(
            "/auth/token",
            &[
                ("client_id", "com.unknown"),
                ("client_secret", &ios_secret),
                ("grant_type", "authorization_code"),
                ("code", &code),
            ],
        )
        .await;
    unknown.assert_error("invalid_client");
    // The code of the web client exchanged by the native client (with a good secret of its own).
    let mismatch = apple
        .exchange("/auth", "com.example.ios", &code, Some(REDIRECT))
        .await;
    mismatch.assert_error("invalid_client");
}
