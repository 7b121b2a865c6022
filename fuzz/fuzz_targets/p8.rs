//! `.p8` keys: `siwa_kit::p8::SigningKey::from_pem` / `from_file_bytes`,
//! `PublicKey::from_pem`, and `KeyInput::from_setting` and
//! `LoadedKey::from_setting` (a setting holding a path or PEM text as
//! deployment tools mangle it; paths are not followed here).
//!
//! Input: a mode byte, then
//! - mode 0: a key file's bytes (`from_file_bytes`: PEM, or DER);
//! - mode 1: PEM text for `SigningKey::from_pem`;
//! - mode 2: PEM text for `PublicKey::from_pem`;
//! - mode 3: a setting for `KeyInput::from_setting`, then its PEM if it is
//!   one, also through `LoadedKey::from_setting`.
//!
//! Invariants:
//! - nothing panics; the heap stays within the input-size bound;
//! - a private key that loads signs ES256 signatures its public key verifies,
//!   and its public key survives PEM, SPKI DER and point encodings unchanged;
//! - a public key that loads re-encodes to PEM that loads to the same key,
//!   and that PEM is canonical (encoding it again gives the same text);
//! - `Debug` of a key or a PEM setting shows no key material, and no error
//!   quotes the base64 of the key;
//! - a setting is PEM exactly when it holds `-----BEGIN`;
//! - the key loader reads PEM text exactly as `SigningKey::from_pem` does:
//!   the same key, or the same error named with the setting.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use siwa_fuzz::fixtures::{P8, P8_OTHER, P8_PUB};
use siwa_fuzz::prelude::*;
use siwa_kit::jws;
use siwa_kit::p8::{KeyError, KeyInput, KeySettingError, LoadedKey, PublicKey, SigningKey};

/// A SEC1 (`EC PRIVATE KEY`) fixture, with an `EC PARAMETERS` block first.
const SEC1: &str = include_str!("../../crates/siwa-kit/tests/fixtures/ec_sec1.pem");

fuzz_target!(
    init: {
        siwa_fuzz::seeds::write_from_env(|| {
            let der = fixtures::pem_der(P8);
            let escaped = format!("\"{}\"", P8.trim().replace('\n', "\\n"));
            let spaced = P8.trim().replace('\n', " ");
            let crlf = P8.replace('\n', "\r\n");
            // Found by this target: a PUBLIC KEY whose point is not an
            // uncompressed P-256 point (0x05 first), and one off the curve.
            let public_pem = |der: &[u8]| {
                format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", STANDARD.encode(der))
            };
            let mut not_uncompressed = fixtures::pem_der(P8_PUB);
            not_uncompressed[26] = 0x05;
            let mut off_curve = fixtures::pem_der(P8_PUB);
            if let Some(last) = off_curve.last_mut() {
                *last ^= 1;
            }
            vec![
                framed(0, &[P8.as_bytes()], 0),
                framed(0, &[&der], 0),
                framed(1, &[P8.as_bytes()], 0),
                framed(1, &[crlf.as_bytes()], 0),
                framed(1, &[P8_OTHER.trim_end().as_bytes()], 0),
                framed(2, &[P8_PUB.as_bytes()], 0),
                framed(2, &[P8.as_bytes()], 0),
                framed(3, &[escaped.as_bytes()], 0),
                framed(3, &[spaced.as_bytes()], 0),
                framed(3, &[b"/etc/siwa/AuthKey_ABC123DEFG.p8"], 0),
                // A BEGIN line that lost its closing dashes, as copy-paste does.
                framed(1, &[P8.replacen("PRIVATE KEY-----", "PRIVATE KEY", 1).as_bytes()], 0),
                framed(1, &[SEC1.replacen("EC PRIVATE KEY-----", "EC PRIVATE KEY", 1).as_bytes()], 0),
                framed(1, &[SEC1.replace('\n', " ").replacen("EC PRIVATE KEY-----", "EC PRIVATE KEY", 1).as_bytes()], 0),
                framed(2, &[public_pem(&not_uncompressed).as_bytes()], 0),
                framed(2, &[public_pem(&off_curve).as_bytes()], 0),
            ]
        });
    },
    |data: &[u8]| {
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        match mode % 4 {
            0 => {
                let key = bounded("SigningKey::from_file_bytes", rest.len(), bounds::P8, || {
                    SigningKey::from_file_bytes(rest)
                });
                check_signing_key(key, rest);
            }
            1 => {
                let text = siwa_fuzz::text(rest);
                let key = bounded("SigningKey::from_pem", text.len(), bounds::P8, || SigningKey::from_pem(&text));
                check_signing_key(key, text.as_bytes());
            }
            2 => {
                let text = siwa_fuzz::text(rest);
                let key = bounded("PublicKey::from_pem", text.len(), bounds::P8, || PublicKey::from_pem(&text));
                match key {
                    Ok(key) => check_public_key(&key),
                    Err(e) => check_error(&e, text.as_bytes()),
                }
            }
            _ => {
                let text = siwa_fuzz::text(rest);
                let input = bounded("KeyInput::from_setting", text.len(), bounds::P8, || KeyInput::from_setting(&text));
                match &input {
                    KeyInput::Pem(pem) => {
                        assert!(text.contains("-----BEGIN"));
                        assert_eq!(format!("{input:?}"), "Pem([redacted])");
                        let key = bounded("SigningKey::from_pem", pem.len(), bounds::P8, || SigningKey::from_pem(pem));
                        let loaded = bounded("LoadedKey::from_setting", text.len(), bounds::P8, || {
                            LoadedKey::from_setting("setting", &text)
                        });
                        match (&key, loaded) {
                            (Ok(key), Ok(loaded)) => {
                                assert_eq!(loaded.key().public_key(), key.public_key());
                                assert!(loaded.path().is_none() && loaded.file_key_id().is_none());
                            }
                            (Err(e), Err(KeySettingError::Text { setting, source })) => {
                                assert_eq!((setting.as_str(), &source), ("setting", e));
                            }
                            (key, loaded) => panic!("from_pem says {key:?}, the loader {loaded:?}"),
                        }
                        check_signing_key(key, pem.as_bytes());
                    }
                    KeyInput::Path(path) => {
                        assert!(!text.contains("-----BEGIN"));
                        assert!(text.contains(path.to_str().expect("a path from text")));
                    }
                }
            }
        }
    }
);

fn check_signing_key(key: Result<SigningKey, KeyError>, input: &[u8]) {
    let key = match key {
        Ok(key) => key,
        Err(e) => return check_error(&e, input),
    };
    assert_eq!(format!("{key:?}"), "SigningKey([redacted])");
    let message = b"header.payload";
    let signature = key.sign_es256(message).expect("signing");
    jws::verify_es256(key.public_key(), message, &signature).expect("its own signature verifies");
    check_public_key(key.public_key());
}

fn check_public_key(key: &PublicKey) {
    let pem = key.to_pem();
    let again = PublicKey::from_pem(&pem).expect("to_pem loads");
    assert!(again == *key, "PEM round trip changed the key");
    assert_eq!(again.to_pem(), pem, "to_pem is canonical");
    assert!(PublicKey::from_spki_der(&key.spki_der()).expect("SPKI loads") == *key);
    assert!(PublicKey::from_point(key.point()).expect("point loads") == *key);
    assert_eq!(key.point().len(), 65);
    assert_eq!(key.point()[0], 4);
}

/// An error has a hint and never quotes the key's base64 (the first 24
/// characters of a base64 line of the input).
fn check_error(error: &KeyError, input: &[u8]) {
    assert!(!error.hint().is_empty());
    let message = error.to_string();
    // A label that its END line confirmed is quoted by design.
    let message = match error {
        KeyError::BadBase64 { label }
        | KeyError::PublicKeyOnly { label }
        | KeyError::UnknownLabel { label } => message.replace(label.as_str(), ""),
        _ => message,
    };
    let text = String::from_utf8_lossy(input);
    for line in text.lines() {
        let line = line.trim();
        // Key base64: only base64 characters, and not only upper case and
        // digits, which a PEM label may be (and an error may quote).
        let base64 = line
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
            && line
                .bytes()
                .any(|b| b.is_ascii_lowercase() || b == b'+' || b == b'/');
        if line.len() >= 24 && base64 {
            assert!(
                !message.contains(&line[..24]),
                "the error quotes the key: {message}"
            );
        }
    }
}
