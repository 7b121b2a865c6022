use std::collections::HashMap;

use siwa_kit::client::Scope;

use super::*;
use crate::keys::ServiceKeys;

/// The team key of the kit's test fixtures.
fn team_key() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../siwa-kit/tests/fixtures/AuthKey_ABC123DEFG.p8"
    )
    .to_owned()
}

/// The required settings, and service keys (so that no key file is written).
fn minimal() -> RawSettings {
    let mut raw = RawSettings::from_toml(
        r#"
team_id = "DEF123GHIJ"
key_id = "ABC123DEFG"
client_id = "com.example.web"
redirect_uri = "https://example.com/auth/apple/callback"
"#,
    )
    .unwrap();
    raw.private_key = Some(team_key().into());
    let (session, encryption) = ServiceKeys::new_settings().unwrap();
    raw.session_key = Some(session.to_string().into());
    raw.encryption_key = Some(encryption.to_string().into());
    raw
}

#[test]
fn defaults_fill_the_rest() {
    let s = Settings::load(minimal()).unwrap();
    assert_eq!(s.listen, "127.0.0.1:8080");
    assert_eq!(s.database_url.expose(), "sqlite://siwa.db");
    assert_eq!(s.allowed_return_origins, ["http://127.0.0.1:8080"]);
    assert_eq!(s.scopes, [Scope::Name, Scope::Email]);
    assert_eq!(s.apple.base_url(), "https://appleid.apple.com");
    assert!(!s.link_by_email);
}

#[test]
fn environment_wins() {
    let env: HashMap<String, String> = [
        ("SIWA_CLIENT_ID", "com.example.other"),
        ("SIWA_BUNDLE_IDS", "com.example.ios, com.example.mac"),
        ("SIWA_LINK_BY_EMAIL", "true"),
        ("SIWA_RATE_LIMIT_PER_IP_PER_MINUTE", "0"),
        ("SIWA_TRUSTED_PROXIES", "2"),
        ("SIWA_NATIVE_NONCE", "issued"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let s = Settings::load(minimal().with_env(&env).unwrap()).unwrap();
    assert_eq!(s.client_id.as_str(), "com.example.other");
    assert_eq!(s.bundle_ids.len(), 2);
    assert!(s.link_by_email);
    assert_eq!(s.rate_limits.per_ip_per_minute, 0);
    assert_eq!(s.trusted_proxies, TrustedProxies::Hops(2));
    assert_eq!(s.native_nonce, NativeNonce::Issued);
    let env: HashMap<String, String> = [(
        "SIWA_TRUSTED_PROXIES".to_owned(),
        "10.0.0.0/8, 192.0.2.1".to_owned(),
    )]
    .into();
    let s = Settings::load(minimal().with_env(&env).unwrap()).unwrap();
    assert!(
        matches!(&s.trusted_proxies, TrustedProxies::Networks(n) if n.len() == 2),
        "{:?}",
        s.trusted_proxies
    );
}

#[test]
fn safe_defaults_of_the_security_settings() {
    let s = Settings::load(minimal()).unwrap();
    assert_eq!(s.trusted_proxies, TrustedProxies::None);
    assert_eq!(s.native_nonce, NativeNonce::Required);
    assert_eq!(s.token_audience, s.public_url);
    assert_eq!(s.session_max_age, 90 * 86_400);
    assert_eq!(s.refresh_reuse_grace_secs, 0);
    let mut raw = minimal();
    let extra = RawSettings::from_toml(
        r#"
trusted_proxies = ["10.0.0.0/8", "2001:db8::/32"]
native_nonce = "optional"
"#,
    )
    .unwrap();
    raw.trusted_proxies = extra.trusted_proxies;
    raw.native_nonce = extra.native_nonce;
    let s = Settings::load(raw).unwrap();
    assert_eq!(s.native_nonce, NativeNonce::Optional);
    assert!(matches!(s.trusted_proxies, TrustedProxies::Networks(_)));
}

#[test]
fn replaced_and_wrong_security_settings_are_refused_with_a_hint() {
    let mut raw = minimal();
    raw.trust_forwarded_for = Some(true);
    let err = Settings::load(raw).unwrap_err();
    assert!(err.problem.contains("trusted_proxies"), "{err}");
    let mut raw = minimal();
    raw.require_native_nonce = Some(false);
    let err = Settings::load(raw).unwrap_err();
    assert!(err.problem.contains("native_nonce"), "{err}");
    let mut raw = minimal();
    raw.native_nonce = Some("sometimes".into());
    assert_eq!(Settings::load(raw).unwrap_err().setting, "native_nonce");
    let mut raw = minimal();
    raw.trusted_proxies = Some(TrustedProxiesSetting::Networks(vec!["10.0.0.0/33".into()]));
    assert_eq!(Settings::load(raw).unwrap_err().setting, "trusted_proxies");
}

#[test]
fn refuses_missing_and_wrong_settings() {
    let mut raw = minimal();
    raw.team_id = None;
    assert_eq!(Settings::load(raw).unwrap_err().setting, "team_id");
    let mut raw = minimal();
    raw.client_id = Some(String::new());
    assert_eq!(Settings::load(raw).unwrap_err().setting, "client_id");
    let mut raw = minimal();
    raw.redirect_uri = Some("http://example.com/cb".into());
    let err = Settings::load(raw).unwrap_err();
    assert!(err.problem.contains("https"), "{err}");
    let mut raw = minimal();
    raw.redirect_uri = Some("http://127.0.0.1:8080/cb".into());
    assert!(Settings::load(raw).is_ok());
    assert!(RawSettings::from_toml("nonsense = 1").is_err());
}

#[test]
fn debug_hides_keys_and_passwords() {
    let mut raw = minimal();
    let pem = std::fs::read_to_string(team_key()).unwrap();
    raw.private_key = Some(pem.clone().into());
    raw.database_url = Some("postgres://u:pw@h/db".into());
    let encryption = raw.encryption_key.clone().unwrap();
    let session = raw.session_key.clone().unwrap();
    let settings = Settings::load(raw.clone()).unwrap();
    let debug = format!("{raw:?} {settings:?} {}", settings.database_url);
    let body = |pem: &str| pem.lines().nth(1).unwrap().to_owned();
    for secret in [
        body(&pem),
        body(session.secret()),
        encryption.secret().to_owned(),
        ":pw@".to_owned(),
    ] {
        assert!(!debug.contains(&secret), "{secret} shown: {debug}");
    }
}

#[test]
fn values_are_parsed_at_load_and_refused_there() {
    let mut raw = minimal();
    raw.scope = Some("name openid".into());
    assert_eq!(Settings::load(raw).unwrap_err().setting, "scope");
    let mut raw = minimal();
    raw.scope = Some(String::new());
    assert!(
        Settings::load(raw).unwrap().scopes.is_empty(),
        "no scope at all is allowed"
    );
    let mut raw = minimal();
    raw.private_key = Some("/nonexistent/AuthKey_ABC123DEFG.p8".into());
    let err = Settings::load(raw).unwrap_err();
    assert_eq!(err.setting, "private_key");
    assert!(
        err.problem.contains("/nonexistent/AuthKey_ABC123DEFG.p8"),
        "{err}"
    );
    let mut raw = minimal();
    raw.apple_base_url = Some("not a url".into());
    assert_eq!(Settings::load(raw).unwrap_err().setting, "apple_base_url");
    let mut raw = minimal();
    raw.encryption_key = Some("c2hvcnQ=".into());
    assert_eq!(Settings::load(raw).unwrap_err().setting, "encryption_key");
    let mut raw = minimal();
    raw.session_key = None;
    raw.encryption_key = None;
    raw.database_url = Some("postgres://db/siwa".into());
    assert_eq!(
        Settings::load(raw).unwrap_err().setting,
        "session_key/encryption_key",
        "a PostgreSQL deployment configures its keys"
    );
}

#[test]
fn origins() {
    assert_eq!(
        origin_of("https://Example.com/x?y").unwrap(),
        "https://example.com"
    );
    assert_eq!(
        origin_of("http://127.0.0.1:8080").unwrap(),
        "http://127.0.0.1:8080"
    );
    assert!(origin_of("javascript:alert(1)").is_none());
    assert!(origin_of("https://user@evil.com").is_none());
}
