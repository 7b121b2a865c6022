//! Real Apple-signed identity tokens and a notification, from
//! tests/vectors/apple-real (provenance in SOURCES.md there): each
//! verifies with the clock pinned to its iat, each tampered copy (one payload
//! digit changed, signature kept) is rejected, and none verifies against
//! Apple's 2024 key set, whose keys are newer.

use std::sync::Arc;

use serde_json::Value;
use siwa_kit::claims::Nonce;
use siwa_kit::clock::{FixedClock, UnixTime};
use siwa_kit::id_token::{NoncePolicy, VerifyError};
use siwa_kit::jwks::{Jwk, JwkSet, KeyCache, KeyLookupError};
use siwa_kit::notification::{EventKind, NotificationError};
use siwa_kit::{Claims, Verifier};

use crate::support::{block_on, client, read_json, read_vector};

struct Vector {
    name: String,
    json: Value,
}

impl Vector {
    fn token(&self) -> &str {
        self.json["id_token"].as_str().expect("id_token")
    }

    fn expected(&self, claim: &str) -> &Value {
        &self.json["expected_claims"][claim]
    }

    fn is_notification(&self) -> bool {
        self.json["kind"] == "s2s_notification"
    }

    fn is_tampered(&self) -> bool {
        self.name.ends_with(".tampered.json")
    }

    /// A verifier with the vector's own key, for its aud, at its iat.
    fn verifier(&self) -> Verifier {
        let jwk: Jwk = serde_json::from_value(self.json["jwk"].clone()).expect("jwk");
        let keys = Arc::new(KeyCache::from_jwks(&JwkSet::new(vec![jwk])));
        self.verifier_with(keys)
    }

    fn verifier_with(&self, keys: Arc<KeyCache>) -> Verifier {
        let aud = self.expected("aud").as_str().expect("aud");
        let iat = self.expected("iat").as_u64().expect("iat");
        Verifier::new(keys, [client(aud)]).clock(Arc::new(FixedClock(UnixTime::from_secs(iat))))
    }
}

/// The token vectors of tests/vectors/apple-real, each read by name: a
/// missing one fails the test with its path.
const APPLE_REAL: [&str; 10] = [
    "aidopk1-nov-apple_id.json",
    "aidopk1-nov-apple_id.tampered.json",
    "exaunml-gameroasters-no-email.json",
    "exaunml-gameroasters-no-email.tampered.json",
    "exaunml-gameroasters-s2s-email-disabled.json",
    "exaunml-gameroasters-s2s-email-disabled.tampered.json",
    "exaunml-whitepaek-web-at_hash.json",
    "exaunml-whitepaek-web-at_hash.tampered.json",
    "w6wcokb-fastcrypto-nonce.json",
    "w6wcokb-fastcrypto-nonce.tampered.json",
];

fn apple_vectors() -> Vec<Vector> {
    APPLE_REAL
        .iter()
        .map(|name| Vector {
            name: (*name).to_owned(),
            json: read_json(&format!("apple-real/{name}")),
        })
        .collect()
}

fn assert_claims_match(vector: &Vector, claims: &Claims) {
    let name = &vector.name;
    let text = |claim: &str| vector.expected(claim).as_str().map(str::to_owned);
    let flag = |claim: &str| match vector.expected(claim) {
        Value::String(s) => Some(s == "true"),
        Value::Bool(b) => Some(*b),
        _ => None,
    };
    assert_eq!(claims.issuer(), "https://appleid.apple.com", "{name}");
    assert_eq!(Some(claims.sub().to_owned()), text("sub"), "{name}");
    assert_eq!(Some(claims.audience().to_owned()), text("aud"), "{name}");
    assert_eq!(
        claims.expires_at().secs(),
        vector.expected("exp").as_u64().unwrap(),
        "{name}"
    );
    assert_eq!(
        claims.issued_at().secs(),
        vector.expected("iat").as_u64().unwrap(),
        "{name}"
    );
    assert_eq!(
        claims.auth_time().map(UnixTime::secs),
        vector.expected("auth_time").as_u64(),
        "{name}"
    );
    assert_eq!(claims.email().map(str::to_owned), text("email"), "{name}");
    assert_eq!(claims.email_verified(), flag("email_verified"), "{name}");
    assert_eq!(
        claims.is_private_email(),
        flag("is_private_email"),
        "{name}"
    );
    assert_eq!(
        claims.nonce().map(|n| n.secret().to_owned()),
        text("nonce"),
        "{name}"
    );
    assert_eq!(
        claims.nonce_supported(),
        vector.expected("nonce_supported").as_bool(),
        "{name}"
    );
    assert_eq!(
        claims.at_hash().map(str::to_owned),
        text("at_hash"),
        "{name}"
    );
    assert_eq!(claims.c_hash().map(str::to_owned), text("c_hash"), "{name}");
    let raw: Value = serde_json::from_str(claims.raw_json()).expect("raw json");
    assert_eq!(raw, vector.json["expected_claims"], "{name}");
}

#[test]
fn real_identity_tokens_verify_at_their_iat() {
    let all = apple_vectors();
    let mut verified = 0;
    for vector in all
        .iter()
        .filter(|v| !v.is_tampered() && !v.is_notification())
    {
        assert_eq!(vector.json["signature_valid"], true, "{}", vector.name);
        let claims = block_on(vector.verifier().verify(vector.token()))
            .unwrap_or_else(|e| panic!("{}: {e}", vector.name));
        assert_claims_match(vector, &claims);
        verified += 1;
    }
    assert_eq!(verified, 4);
}

#[test]
fn tampered_real_tokens_are_rejected() {
    let all = apple_vectors();
    let mut rejected = 0;
    for vector in all.iter().filter(|v| v.is_tampered()) {
        assert_eq!(vector.json["signature_valid"], false, "{}", vector.name);
        let verifier = vector.verifier();
        let error = if vector.is_notification() {
            match block_on(verifier.verify_notification(vector.token())) {
                Err(NotificationError::Token(e)) => e,
                other => panic!("{}: {other:?}", vector.name),
            }
        } else {
            block_on(verifier.verify(vector.token())).expect_err(&vector.name)
        };
        let kid = vector.json["kid"].as_str().unwrap();
        assert!(
            matches!(&error, VerifyError::Signature { kid: k } if k == kid),
            "{}: {error:?}",
            vector.name
        );
        rejected += 1;
    }
    assert_eq!(rejected, 5);
}

#[test]
fn real_tokens_are_unknown_to_apples_2024_key_set() {
    let all = apple_vectors();
    let snapshot = read_vector("apple-real/jwks-snapshot.json");
    let keys = Arc::new(KeyCache::from_json(&snapshot).expect("Apple's key set parses"));
    assert_eq!(
        keys.kids(),
        [
            "pggnQeNCOU",
            "Bh6H7rHVmb",
            "lVHdOx8ltR",
            "T8tIJ1zSrO",
            "pyaRQpAbnY"
        ]
    );
    for kid in keys.kids() {
        let key = block_on(keys.key(&kid)).unwrap_or_else(|e| panic!("{kid}: {e}"));
        assert_eq!(key.bits(), 2048, "{kid}");
    }
    for vector in all
        .iter()
        .filter(|v| !v.is_tampered() && !v.is_notification())
    {
        let error = block_on(
            vector
                .verifier_with(Arc::clone(&keys))
                .verify(vector.token()),
        )
        .expect_err(&vector.name);
        let kid = vector.json["kid"].as_str().unwrap();
        assert!(
            matches!(&error, VerifyError::Key(KeyLookupError::UnknownKid { kid: k, known }) if k == kid && known.len() == 5),
            "{}: {error:?}",
            vector.name
        );
    }
}

#[test]
fn real_notification_verifies_and_decodes_its_event() {
    let all = apple_vectors();
    let vector = all
        .iter()
        .find(|v| v.is_notification() && !v.is_tampered())
        .expect("a notification vector");
    let notification = block_on(vector.verifier().verify_notification(vector.token()))
        .unwrap_or_else(|e| panic!("{}: {e}", vector.name));
    let expected = &vector.json["expected_events"];
    let event = notification.event();
    assert_eq!(event.kind(), &EventKind::EmailDisabled);
    assert_eq!(event.kind().as_str(), expected["type"]);
    assert_eq!(event.sub(), expected["sub"]);
    assert_eq!(event.email(), expected["email"].as_str());
    assert_eq!(event.is_private_email(), Some(true));
    assert_eq!(
        event.event_time_ms(),
        expected["event_time"].as_u64().unwrap()
    );
    assert_eq!(notification.jti(), vector.expected("jti").as_str().unwrap());
    assert_eq!(notification.audience(), "com.gameroasters.stack4");
    // The same, as the body Apple POSTs.
    let body = serde_json::json!({ "payload": vector.token() }).to_string();
    let again =
        block_on(vector.verifier().verify_notification_body(body.as_bytes())).expect("body");
    assert_eq!(again, notification);
}

#[test]
fn real_tokens_fail_for_another_audience_or_time() {
    let all = apple_vectors();
    let vector = all
        .iter()
        .find(|v| v.name == "w6wcokb-fastcrypto-nonce.json")
        .expect("vector");
    let jwk: Jwk = serde_json::from_value(vector.json["jwk"].clone()).unwrap();
    let keys = Arc::new(KeyCache::from_jwks(&JwkSet::new(vec![jwk])));
    let iat = vector.expected("iat").as_u64().unwrap();
    let exp = vector.expected("exp").as_u64().unwrap();
    let other = Verifier::new(Arc::clone(&keys), [client("com.example.web")])
        .clock(Arc::new(FixedClock(UnixTime::from_secs(iat))));
    assert!(matches!(
        block_on(other.verify(vector.token())),
        Err(VerifyError::Audience { .. })
    ));
    let late = Verifier::new(Arc::clone(&keys), [client("nl.digkas.wallet.client")])
        .clock(Arc::new(FixedClock(UnixTime::from_secs(exp + 61))));
    assert!(matches!(
        block_on(late.verify(vector.token())),
        Err(VerifyError::Expired { .. })
    ));
    // Today, the token is long expired.
    let today = Verifier::new(keys, [client("nl.digkas.wallet.client")]);
    assert!(matches!(
        block_on(today.verify(vector.token())),
        Err(VerifyError::Expired { .. })
    ));
}

#[test]
fn real_web_token_nonce_matches_exactly() {
    let all = apple_vectors();
    let vector = all
        .iter()
        .find(|v| v.name == "exaunml-whitepaek-web-at_hash.json")
        .expect("vector");
    let verifier = vector.verifier();
    let right = NoncePolicy::Exact(Nonce::new("20B20D-0S8-1K8"));
    assert!(block_on(verifier.verify_with_nonce(vector.token(), &right)).is_ok());
    let wrong = NoncePolicy::Exact(Nonce::new("20B20D-0S8-1K9"));
    assert!(matches!(
        block_on(verifier.verify_with_nonce(vector.token(), &wrong)),
        Err(VerifyError::NonceMismatch { policy: "exact" })
    ));
    let hashed = NoncePolicy::Sha256OfRaw(Nonce::new("20B20D-0S8-1K8"));
    assert!(matches!(
        block_on(verifier.verify_with_nonce(vector.token(), &hashed)),
        Err(VerifyError::NonceMismatch {
            policy: "sha256-of-raw"
        })
    ));
}
