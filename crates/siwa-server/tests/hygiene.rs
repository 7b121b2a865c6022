//! Secret hygiene: every log line of this test binary (at TRACE, from every
//! crate: ours, the emulator, hyper, reqwest, sqlx...) is captured while the
//! end-to-end flows run, then searched for key material and tokens. `Debug`
//! of every configuration and secret-holding type is searched the same way.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{json, Value};

use crate::harness::{fixtures, sha256_hex, Backend, Browser, World};

/// Everything logged by this test binary.
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber (once per binary), at the most verbose level.
pub(crate) fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(Arc::clone(&buffer));
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        buffer
    })
    .clone()
}

/// Fails if `haystack` contains any needle (needles shorter than 12 characters are skipped).
#[track_caller]
fn assert_absent(haystack: &str, needles: &[(&str, String)]) {
    for (what, needle) in needles {
        if needle.len() >= 12 {
            assert!(
                !haystack.contains(needle.as_str()),
                "{what} leaked: ...{}...",
                &needle[..12]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs_during_the_flows() {
    let logs = capture_logs();
    let world = World::start(Backend::Sqlite).await;
    let server = world.server(0);
    let mut secrets: Vec<(&str, String)> = Vec::new();

    // Web sign-in.
    let mut browser = Browser::new();
    let authorize = browser.start_sign_in(&server, "/").await;
    let fields = browser.consent(&authorize, "alice").await;
    for (name, value) in &fields {
        if matches!(name.as_str(), "code" | "id_token" | "state") {
            secrets.push(("a form_post field", value.clone()));
        }
    }
    let landing = browser.form_post(&server, &fields).await;
    assert_eq!(landing.status, 303);
    secrets.extend(browser.cookies.values().map(|v| ("a cookie", v.clone())));

    // Native sign-in, refresh, attacks with forged tokens.
    let credential = world
        .native_credential("bob", Some(&sha256_hex("raw-nonce")))
        .await;
    let id_token = credential["identity_token"].as_str().unwrap().to_owned();
    let code = credential["authorization_code"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(("an identity token", id_token.clone()));
    secrets.push(("an authorization code", code.clone()));
    secrets.push(("a raw nonce", "raw-nonce".into()));
    let tokens: Value = world
        .http
        .post(format!("{server}/auth/apple/native"))
        .json(
            &json!({"identity_token": id_token, "authorization_code": code, "nonce": "raw-nonce"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    secrets.push(("our refresh token", refresh.clone()));
    secrets.push(("our access token", access.clone()));
    let rotated: Value = world
        .http
        .post(format!("{server}/session/refresh"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push((
        "a rotated refresh token",
        rotated["refresh_token"].as_str().unwrap().to_owned(),
    ));
    // Reuse (theft detection logs a warning) and forged tokens (rejections log reasons).
    let _ = world
        .http
        .post(format!("{server}/session/refresh"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await;
    let forged = format!("{}x", &id_token[..id_token.len() - 1]);
    let _ = world
        .http
        .post(format!("{server}/auth/apple/native"))
        .json(&json!({"identity_token": forged, "authorization_code": "c123456789abcdef0123456789abcdef0.0.abcd.AAAAAAAAAAAAAAAAAAAAAA"}))
        .send()
        .await;
    let _ = world
        .http
        .get(format!("{server}/me"))
        .bearer_auth(format!("{access}x"))
        .send()
        .await;

    // Notifications and an account deletion (revokes Apple's refresh token).
    for kind in ["email-disabled", "consent-revoked"] {
        world
            .http
            .post(world.apple_url("/emulator/notify"))
            .json(&json!({"client_id": crate::harness::WEB, "user": "alice", "type": kind}))
            .send()
            .await
            .unwrap();
    }
    let again = world
        .native_credential("bob", Some(&sha256_hex("raw-nonce-2")))
        .await;
    secrets.push((
        "an identity token",
        again["identity_token"].as_str().unwrap().to_owned(),
    ));
    secrets.push((
        "an authorization code",
        again["authorization_code"].as_str().unwrap().to_owned(),
    ));
    let signed_in: Value = world
        .http
        .post(format!("{server}/auth/apple/native"))
        .json(&json!({"identity_token": again["identity_token"], "authorization_code": again["authorization_code"], "nonce": "raw-nonce-2"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = signed_in["access_token"].as_str().unwrap().to_owned();
    secrets.push(("our access token", bearer.clone()));
    secrets.push((
        "our refresh token",
        signed_in["refresh_token"].as_str().unwrap().to_owned(),
    ));
    let response = world
        .http
        .delete(format!("{server}/me"))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let revoked: Value = world
        .http
        .get(world.apple_url("/emulator/revocations"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for entry in revoked["revocations"].as_array().unwrap() {
        secrets.push((
            "Apple's refresh token",
            entry["token"].as_str().unwrap().to_owned(),
        ));
    }
    assert!(!revoked["revocations"].as_array().unwrap().is_empty());

    // A relying party of the OpenID Provider: its secret, code and tokens.
    let mut rp = crate::oidc::Rp::start(Backend::Sqlite).await;
    let code = rp
        .code(crate::oidc::WIKI, crate::oidc::WIKI_CB, &[], "alice")
        .await;
    let (status, tokens) = rp.wiki_exchange(&code, crate::oidc::WIKI_CB).await;
    assert_eq!(status, 200);
    let (status, _) = rp.userinfo(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let (status, _) = rp
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
            Some((crate::oidc::WIKI, crate::oidc::WIKI_SECRET)),
        )
        .await;
    assert_eq!(status, 200);
    secrets.push(("a relying party's code", code));
    secrets.push(("a relying party's secret", crate::oidc::WIKI_SECRET.into()));
    for name in ["access_token", "refresh_token", "id_token"] {
        secrets.push((
            "a relying party's token",
            tokens[name].as_str().unwrap().to_owned(),
        ));
    }

    // The team's .p8 and what the service signs with it.
    let pem = std::fs::read_to_string(fixtures().join("AuthKey_ABC123DEFG.p8")).unwrap();
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        secrets.push((".p8 key text", line.to_owned()));
    }
    // Every client_secret the service made starts with this header.
    secrets.push((
        "a client_secret",
        "eyJhbGciOiJFUzI1NiIsImtpZCI6IkFCQzEyM0RFRkcifQ".into(),
    ));

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        text.contains("TRACE") || text.contains("DEBUG"),
        "the capture works at the verbose levels"
    );
    assert!(
        text.contains("web sign-in")
            && text.contains("native sign-in")
            && text.contains("code redeemed"),
        "the flows were logged"
    );
    assert_absent(&text, &secrets);
    // No JWT of any kind, and no Apple-shaped code or token, in the logs.
    assert!(!text.contains("eyJ"), "a JWT reached the logs");
    let apple_shaped = text
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '.')
        .any(|word| {
            word.len() > 40
                && (word.starts_with('c') || word.starts_with('r') || word.starts_with('a'))
                && word[1..].contains(".0.")
        });
    assert!(
        !apple_shaped,
        "an Apple-shaped code or token reached the logs"
    );
}

#[tokio::test]
async fn debug_output_of_configuration_and_secrets_is_redacted() {
    let (session_key, encryption_key) = crate::harness::shared_keys();
    let pem = std::fs::read_to_string(fixtures().join("AuthKey_ABC123DEFG.p8")).unwrap();
    let oidc_key = siwa_server::oidc::new_signing_key().unwrap();
    let raw = siwa_server::RawSettings {
        team_id: Some("DEF123GHIJ".into()),
        key_id: Some("ABC123DEFG".into()),
        private_key: Some(pem.clone().into()),
        client_id: Some("com.example.web".into()),
        redirect_uri: Some("https://example.com/cb".into()),
        database_url: Some("postgres://app:hunter2-password@db/siwa".into()),
        session_key: Some(session_key.clone().into()),
        encryption_key: Some(encryption_key.clone().into()),
        oidc: Some(siwa_server::config::RawOidc {
            signing_keys: Some(vec![oidc_key.as_str().into()]),
            client: Some(vec![siwa_server::config::RawOidcClient {
                id: Some("wiki".into()),
                secret: Some(crate::oidc::WIKI_SECRET.into()),
                redirect_uris: Some(vec![crate::oidc::WIKI_CB.into()]),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..siwa_server::RawSettings::default()
    };
    let settings = siwa_server::Settings::load(raw.clone()).unwrap();
    let store = siwa_server::store::connect("sqlite::memory:")
        .await
        .unwrap();
    let state = siwa_server::AppState::new(settings.clone(), std::sync::Arc::from(store)).unwrap();
    let debug = format!(
        "{raw:?}\n{settings:?}\n{:?}\n{state:?}\n{}",
        settings.service_keys, settings.database_url
    );
    let mut secrets: Vec<(&str, String)> = vec![
        ("the database password", "hunter2-password".into()),
        ("the encryption key", encryption_key),
        ("a relying party's secret", crate::oidc::WIKI_SECRET.into()),
    ];
    for line in pem
        .lines()
        .chain(session_key.lines())
        .chain(oidc_key.lines())
        .filter(|l| !l.starts_with("-----"))
    {
        secrets.push(("key text", line.to_owned()));
    }
    assert_absent(&debug, &secrets);
    assert!(debug.contains("[redacted]"));
    assert!(debug.contains("postgres://app:***@db/siwa"));
}
