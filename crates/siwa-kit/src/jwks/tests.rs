use super::cache::max_age;
use super::error::MAX_QUOTED;
use super::*;
use crate::jws::RsaKeyError;

fn header_map(values: &[&str]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for v in values {
        map.append(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

#[test]
fn reads_max_age() {
    assert_eq!(max_age(&header_map(&[])), None);
    assert_eq!(max_age(&header_map(&["max-age=600"])), Some(600));
    assert_eq!(
        max_age(&header_map(&["public, Max-Age = 86400 , must-revalidate"])),
        Some(86_400)
    );
    assert_eq!(max_age(&header_map(&["no-store"])), Some(0));
    assert_eq!(max_age(&header_map(&["max-age=60", "no-cache"])), Some(0));
    assert_eq!(max_age(&header_map(&["max-age=soon"])), None);
}

fn rsa_jwk(kid: &str) -> Jwk {
    let mut n = vec![0xc5u8; 256];
    n[255] |= 1;
    Jwk::rsa(kid, &n, &[1, 0, 1])
}

#[test]
fn keeps_unusable_keys_with_their_reason() {
    let mut not_rsa = rsa_jwk("EC");
    not_rsa.kty = "EC".into();
    let mut enc = rsa_jwk("ENC");
    enc.key_use = Some("enc".into());
    let mut rs512 = rsa_jwk("RS512");
    rs512.alg = Some("RS512".into());
    let mut ops = rsa_jwk("OPS");
    ops.key_ops = Some(vec!["sign".into()]);
    let small = Jwk::rsa("SMALL", &[0xc5; 128], &[1, 0, 1]);
    let e3 = Jwk::rsa("E3", &[0xc5; 256], &[3]);
    let mut padded = rsa_jwk("PAD");
    padded.n = Some(format!("{}=", padded.n.unwrap()));
    let mut no_e = rsa_jwk("NOE");
    no_e.e = None;
    let mut no_kid = rsa_jwk("x");
    no_kid.kid = None;
    let set = JwkSet::new(vec![
        rsa_jwk("GOOD"),
        not_rsa,
        enc,
        rs512,
        ops,
        small,
        e3,
        padded,
        no_e,
        no_kid,
        rsa_jwk("TWICE"),
        rsa_jwk("TWICE"),
    ]);
    let keys = KeySet::from_jwks(&set);
    assert_eq!(
        keys.kids(),
        ["GOOD", "EC", "ENC", "RS512", "OPS", "SMALL", "E3", "PAD", "NOE", "TWICE"]
    );
    let problem = |kid: &str| match keys.key(kid) {
        Err(KeyLookupError::Unusable { problem, .. }) => problem,
        other => panic!("{kid}: {other:?}"),
    };
    assert_eq!(keys.key("GOOD").unwrap().bits(), 2048);
    assert_eq!(problem("EC"), KeyProblem::NotRsa { kty: "EC".into() });
    assert_eq!(
        problem("ENC"),
        KeyProblem::Use {
            found: "enc".into()
        }
    );
    assert_eq!(
        problem("RS512"),
        KeyProblem::Alg {
            found: "RS512".into()
        }
    );
    assert_eq!(
        problem("OPS"),
        KeyProblem::KeyOps {
            found: vec!["sign".into()]
        }
    );
    assert_eq!(
        problem("SMALL"),
        KeyProblem::Rsa(RsaKeyError::ModulusSize {
            bits: 1024,
            min: 2048,
            max: 8192
        })
    );
    assert!(matches!(
        problem("E3"),
        KeyProblem::Rsa(RsaKeyError::Exponent { .. })
    ));
    assert_eq!(problem("PAD"), KeyProblem::Encoding { member: "n" });
    assert_eq!(problem("NOE"), KeyProblem::Missing { member: "e" });
    assert_eq!(problem("TWICE"), KeyProblem::DuplicateKid);
    assert!(matches!(
        keys.key("nope"),
        Err(KeyLookupError::UnknownKid { .. })
    ));
}

#[test]
fn parses_and_writes_key_sets() {
    let set = JwkSet::new(vec![rsa_jwk("A")]);
    let json = set.to_json();
    assert!(json.contains(r#""use":"sig""#), "{json}");
    assert_eq!(JwkSet::from_json(json.as_bytes()).unwrap(), set);
    assert!(matches!(
        JwkSet::from_json(br#"{"keys":[],"keys":[]}"#),
        Err(JwksError::Json { .. })
    ));
    assert!(matches!(
        JwkSet::from_json(br#"{"key":[]}"#),
        Err(JwksError::Shape { .. })
    ));
    assert!(matches!(
        JwkSet::from_json(b"[]"),
        Err(JwksError::Json { .. })
    ));
}

#[test]
fn long_kids_are_cut_in_errors() {
    let keys = KeySet::default();
    let kid = "k".repeat(10_000);
    let KeyLookupError::UnknownKid { kid: quoted, .. } = keys.key(&kid).unwrap_err() else {
        panic!()
    };
    assert_eq!(quoted.len(), MAX_QUOTED + 3);
}
