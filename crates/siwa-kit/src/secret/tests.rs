use std::sync::atomic::{AtomicU64, Ordering};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::*;

const PEM: &str = include_str!("../../tests/fixtures/AuthKey_ABC123DEFG.p8");
const NOW: u64 = 1_700_000_000;

fn builder() -> ClientSecretBuilder {
    ClientSecretBuilder::new(
        TeamId::new("DEF123GHIJ").unwrap(),
        KeyId::new("ABC123DEFG").unwrap(),
        ClientId::new("com.example.web").unwrap(),
    )
}

fn decode(segment: &str) -> serde_json::Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

#[test]
fn header_and_claims_are_exactly_apples() {
    let key = SigningKey::from_pem(PEM).unwrap();
    let secret = builder()
        .ttl_secs(600)
        .unwrap()
        .sign(&key, UnixTime::from_secs(NOW))
        .unwrap();
    let segments: Vec<&str> = secret.secret().split('.').collect();
    assert_eq!(segments.len(), 3);
    let header = URL_SAFE_NO_PAD.decode(segments[0]).unwrap();
    assert_eq!(header, br#"{"alg":"ES256","kid":"ABC123DEFG"}"#);
    let claims = decode(segments[1]);
    assert_eq!(
        claims,
        serde_json::json!({
            "iss": "DEF123GHIJ",
            "iat": NOW - 60,
            "exp": NOW - 60 + 600,
            "aud": "https://appleid.apple.com",
            "sub": "com.example.web",
        })
    );
    assert_eq!(URL_SAFE_NO_PAD.decode(segments[2]).unwrap().len(), 64);
    assert_eq!(secret.issued_at().secs(), NOW - 60);
    assert_eq!(secret.expires_at().secs(), NOW + 540);
}

#[test]
fn ttl_limits() {
    assert!(builder().ttl_secs(MAX_TTL_SECS).is_ok());
    assert!(builder().ttl_secs(1).is_ok());
    let err = builder().ttl_secs(MAX_TTL_SECS + 1).unwrap_err();
    assert!(err.to_string().contains("15777000"), "{err}");
    assert!(builder().ttl_secs(0).is_err());
}

#[test]
fn backdate_never_makes_a_secret_born_expired() {
    let key = SigningKey::from_pem(PEM).unwrap();
    let now = UnixTime::from_secs(NOW);
    let short = builder().ttl_secs(30).unwrap().sign(&key, now).unwrap();
    assert_eq!(short.expires_at().secs() - short.issued_at().secs(), 30);
    assert!(short.expires_at() > now);
    let custom = builder().backdate_secs(5).sign(&key, now).unwrap();
    assert_eq!(custom.issued_at().secs(), NOW - 5);
}

#[test]
fn debug_is_redacted() {
    let key = SigningKey::from_pem(PEM).unwrap();
    let secret = builder().sign(&key, UnixTime::from_secs(NOW)).unwrap();
    let debug = format!("{secret:?}");
    assert!(debug.contains("[redacted]"));
    assert!(!debug.contains(secret.secret().split('.').next().unwrap()));
}

#[derive(Debug, Default)]
struct StepClock(AtomicU64);

impl Clock for StepClock {
    fn now(&self) -> UnixTime {
        UnixTime::from_secs(self.0.load(Ordering::SeqCst))
    }
}

#[test]
fn cache_reuses_then_renews_before_expiry() {
    let clock = Arc::new(StepClock(AtomicU64::new(NOW)));
    let key = Arc::new(SigningKey::from_pem(PEM).unwrap());
    let cache = SecretCache::new(builder().ttl_secs(3600).unwrap(), key, clock.clone())
        .renew_margin_secs(300);
    let first = cache.current().unwrap();
    clock.0.store(NOW + 3000, Ordering::SeqCst);
    let same = cache.current().unwrap();
    assert!(Arc::ptr_eq(&first, &same));
    // exp = NOW - 60 + 3600; renewal is due 300 s before.
    clock.0.store(NOW + 3240, Ordering::SeqCst);
    let renewed = cache.current().unwrap();
    assert!(!Arc::ptr_eq(&first, &renewed));
    assert_eq!(renewed.issued_at().secs(), NOW + 3240 - 60);
}

#[test]
fn cache_is_shared_across_threads() {
    let clock = Arc::new(StepClock(AtomicU64::new(NOW)));
    let key = Arc::new(SigningKey::from_pem(PEM).unwrap());
    let cache = Arc::new(SecretCache::new(builder(), key, clock));
    let secrets: Vec<Arc<ClientSecret>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let cache = Arc::clone(&cache);
                s.spawn(move || cache.current().unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(secrets.iter().all(|s| Arc::ptr_eq(s, &secrets[0])));
}
