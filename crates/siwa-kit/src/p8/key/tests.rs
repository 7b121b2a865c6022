use super::*;
use crate::p8::KeyInput;

const APPLE_SHAPED: &str = include_str!("../../../tests/fixtures/AuthKey_ABC123DEFG.p8");
const APPLE_SHAPED_PUB: &str = include_str!("../../../tests/fixtures/AuthKey_ABC123DEFG.pub.pem");
const SEC1: &str = include_str!("../../../tests/fixtures/ec_sec1.pem");

fn err(text: &str) -> KeyError {
    SigningKey::from_pem(text).unwrap_err()
}

#[test]
fn loads_apple_shaped_pkcs8_and_derives_openssl_public_pem() {
    let key = SigningKey::from_pem(APPLE_SHAPED).unwrap();
    // The .pub.pem fixture was written by `openssl ec -pubout`.
    assert_eq!(key.public_key().to_pem(), APPLE_SHAPED_PUB);
    assert_eq!(
        PublicKey::from_pem(APPLE_SHAPED_PUB).unwrap(),
        *key.public_key()
    );
}

#[test]
fn loads_sec1_with_ec_parameters_block() {
    let key = SigningKey::from_pem(SEC1).unwrap();
    assert_eq!(key.public_key().point().len(), 65);
}

#[test]
fn tolerates_crlf_missing_newline_and_spaces() {
    let want = SigningKey::from_pem(APPLE_SHAPED).unwrap().public;
    let crlf = APPLE_SHAPED.replace('\n', "\r\n");
    let no_final = APPLE_SHAPED.trim_end();
    let spaces = APPLE_SHAPED.trim_end().replace('\n', " ");
    for text in [crlf.as_str(), no_final, spaces.as_str()] {
        assert_eq!(SigningKey::from_pem(text).unwrap().public, want, "{text:?}");
    }
}

#[test]
fn loads_der() {
    let blocks = pem_blocks(APPLE_SHAPED).unwrap();
    let key = SigningKey::from_file_bytes(&blocks[0].der).unwrap();
    assert_eq!(
        key.public,
        SigningKey::from_pem(APPLE_SHAPED).unwrap().public
    );
}

#[test]
fn names_what_is_wrong() {
    type Expect = fn(&KeyError) -> bool;
    let cases: [(&str, Expect); 10] = [
        (include_str!("../../../tests/fixtures/rsa_pkcs8.pem"), |e| {
            *e == KeyError::Rsa
        }),
        (include_str!("../../../tests/fixtures/rsa_pkcs1.pem"), |e| {
            *e == KeyError::Rsa
        }),
        (include_str!("../../../tests/fixtures/p384.pem"), |e| {
            *e == KeyError::OtherCurve { curve: "P-384" }
        }),
        (include_str!("../../../tests/fixtures/ed25519.pem"), |e| {
            *e == KeyError::NotEc { kind: "Ed25519" }
        }),
        (
            include_str!("../../../tests/fixtures/certificate.pem"),
            |e| *e == KeyError::Certificate,
        ),
        (APPLE_SHAPED_PUB, |e| {
            matches!(e, KeyError::PublicKeyOnly { .. })
        }),
        (include_str!("../../../tests/fixtures/encrypted.pem"), |e| {
            *e == KeyError::Encrypted
        }),
        (include_str!("../../../tests/fixtures/truncated.p8"), |e| {
            matches!(e, KeyError::Truncated { .. })
        }),
        (include_str!("../../../tests/fixtures/garbage.txt"), |e| {
            *e == KeyError::NoPem
        }),
        ("  \n", |e| *e == KeyError::Empty),
    ];
    for (text, expected) in cases {
        let e = err(text);
        assert!(expected(&e), "unexpected {e:?}");
        assert!(!e.hint().is_empty());
    }
}

#[test]
fn damaged_body_is_reported() {
    let damaged = APPLE_SHAPED.replacen("MIGH", "M!GH", 1);
    assert!(matches!(err(&damaged), KeyError::BadBase64 { .. }));
    // Valid base64 of a cut DER structure.
    let body = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg";
    let cut = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
    assert!(
        matches!(err(&cut), KeyError::Malformed { .. }),
        "{:?}",
        err(&cut)
    );
    assert!(matches!(
        err(&"A".repeat(MAX_KEY_TEXT_LEN + 1)),
        KeyError::TooLarge { .. }
    ));
}

#[test]
fn errors_and_debug_hold_no_key_material() {
    let body: String = APPLE_SHAPED
        .lines()
        .nth(1)
        .unwrap()
        .chars()
        .take(20)
        .collect();
    let key = SigningKey::from_pem(APPLE_SHAPED).unwrap();
    assert_eq!(format!("{key:?}"), "SigningKey([redacted])");
    let input = KeyInput::from_setting(APPLE_SHAPED);
    assert_eq!(format!("{input:?}"), "Pem([redacted])");
    let damaged = APPLE_SHAPED.replacen("MIGH", "M!GH", 1);
    let e = err(&damaged);
    assert!(!format!("{e:?} {e}").contains(&body[4..]));
}

#[test]
fn a_begin_line_without_its_dashes_is_not_quoted_with_the_key() {
    // Found by fuzz/ (target p8): when the BEGIN line lost its closing
    // dashes, the label ran on to the END line's dashes, and the Truncated
    // error quoted the whole base64 body, the private key, as the label.
    let secret_line = |pem: &str| {
        let line = pem
            .lines()
            .find(|l| !l.is_empty() && !l.starts_with("-----"));
        line.unwrap().to_owned()
    };
    let sec1_key = SEC1.split("-----END EC PARAMETERS-----").nth(1).unwrap();
    for (pem, label) in [(APPLE_SHAPED, "PRIVATE KEY"), (sec1_key, "EC PRIVATE KEY")] {
        let body = secret_line(pem);
        let opening = format!("{label}-----");
        let lines = pem.replacen(&opening, label, 1);
        let one_line = lines.replace('\n', " ");
        let no_end = pem
            .replacen(&opening, label, 1)
            .replace(&format!("-----END {label}-----"), "");
        for text in [lines, one_line, no_end] {
            let e = err(&text);
            assert!(
                matches!(&e, KeyError::Truncated { label: l } if l.trim_end_matches("...") == label),
                "{e:?}"
            );
            let shown = format!("{e:?} {e}");
            assert!(!shown.contains(&body[..12]), "{shown}");
        }
    }
    // A label that its END line confirms is still quoted as written.
    let odd = "-----BEGIN my key-----\nAAAA\n-----END my key-----\n";
    assert_eq!(
        err(odd),
        KeyError::UnknownLabel {
            label: "my key".into()
        }
    );
    assert_eq!(shown_label("X509 CRL"), "X509 CRL");
    assert_eq!(
        shown_label("EC PRIVATE KEY MHcCAQEEIA"),
        "EC PRIVATE KEY..."
    );
}

#[test]
fn jwk_has_the_coordinates() {
    let key = SigningKey::from_pem(APPLE_SHAPED).unwrap();
    let kid = KeyId::new("ABC123DEFG").unwrap();
    let jwk = key.public_key().to_jwk(Some(&kid));
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    assert_eq!(jwk["kid"], "ABC123DEFG");
    let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
    assert_eq!(x, key.public_key().point()[1..33]);
}

#[test]
fn signature_is_raw_and_checks_with_p256() {
    use p256::ecdsa::signature::Verifier;
    use p256::pkcs8::DecodePublicKey;
    let key = SigningKey::from_pem(APPLE_SHAPED).unwrap();
    let sig = key.sign_es256(b"hello").unwrap();
    let vk = p256::ecdsa::VerifyingKey::from_public_key_pem(APPLE_SHAPED_PUB).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&sig).unwrap();
    vk.verify(b"hello", &sig).unwrap();
}

#[test]
fn a_public_point_is_checked_once_at_load() {
    // Found by fuzz/ (target p8): `from_spki_der` took any 65 bytes after
    // the P-256 header for the point, so a PUBLIC KEY whose point starts
    // with 0x05 loaded from PEM while `from_point` refused that same point,
    // and a point off the curve loaded both ways (to fail every signature
    // check later). Every way in now checks the point the same way.
    let good = PublicKey::from_pem(APPLE_SHAPED_PUB).unwrap();
    let spki = |point: &[u8]| [&SPKI_P256_PREFIX[..], point].concat();
    let pem = |der: &[u8]| {
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(der)
        )
    };
    let mut not_uncompressed = good.point().to_vec();
    not_uncompressed[0] = 0x05;
    let mut off_curve = good.point().to_vec();
    off_curve[64] ^= 1;
    let mut zeros = vec![0u8; 65];
    zeros[0] = 0x04;
    for (point, what) in [
        (not_uncompressed, "65 bytes starting with 0x04"),
        (off_curve, "not on the P-256 curve"),
        (zeros, "not on the P-256 curve"),
    ] {
        for (way, result) in [
            ("point", PublicKey::from_point(&point)),
            ("SPKI", PublicKey::from_spki_der(&spki(&point))),
            ("PEM", PublicKey::from_pem(&pem(&spki(&point)))),
        ] {
            match result {
                Err(e @ KeyError::Malformed { .. }) => {
                    assert!(e.to_string().contains(what), "{way}: {e}");
                    assert!(!e.hint().is_empty());
                }
                other => panic!("{way} of {point:02x?}: {other:?}"),
            }
        }
    }
    assert!(PublicKey::from_point(good.point()).unwrap() == good);
    assert!(PublicKey::from_spki_der(&good.spki_der()).unwrap() == good);
}
