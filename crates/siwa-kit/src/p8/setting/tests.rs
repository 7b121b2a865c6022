use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::*;

const APPLE_SHAPED: &str = include_str!("../../../tests/fixtures/AuthKey_ABC123DEFG.p8");

/// A fixture of the repository.
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fresh folder of this test process for files a test writes.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("siwa-kit-p8-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn setting_undoes_deployment_mangling() {
    let want = SigningKey::from_pem(APPLE_SHAPED)
        .unwrap()
        .public_key()
        .clone();
    let escaped = APPLE_SHAPED.replace('\n', "\\n");
    let quoted = format!("\"{escaped}\"");
    let single = format!("'{}'", APPLE_SHAPED.trim_end().replace('\n', " "));
    for value in [escaped, quoted, single] {
        let KeyInput::Pem(text) = KeyInput::from_setting(&value) else {
            panic!("not read as PEM: {value}");
        };
        assert_eq!(SigningKey::from_pem(&text).unwrap().public_key(), &want);
    }
    assert_eq!(
        KeyInput::from_setting(" \"/keys/AuthKey_ABC123DEFG.p8\" "),
        KeyInput::Path("/keys/AuthKey_ABC123DEFG.p8".into())
    );
}

#[test]
fn key_id_comes_from_apple_file_name() {
    let kid = key_id_from_file_name(Path::new("/x/AuthKey_ABC123DEFG.p8")).unwrap();
    assert_eq!(kid.as_str(), "ABC123DEFG");
    assert!(key_id_from_file_name(Path::new("AuthKey_abc.p8")).is_none());
    assert!(key_id_from_file_name(Path::new("key.pem")).is_none());
}

#[test]
fn a_key_file_is_loaded_with_the_key_id_of_its_name() {
    let path = fixture("AuthKey_ABC123DEFG.p8");
    let loaded = LoadedKey::from_setting("--key", path.to_str().unwrap()).unwrap();
    assert_eq!(loaded.path(), Some(path.as_path()));
    assert_eq!(loaded.file_key_id().unwrap().as_str(), "ABC123DEFG");
    let want = SigningKey::from_pem(APPLE_SHAPED).unwrap();
    assert_eq!(loaded.key().public_key(), want.public_key());
    assert_eq!(loaded.into_key().public_key(), want.public_key());
}

#[test]
fn pem_text_is_loaded_with_no_file_and_no_key_id() {
    let loaded = LoadedKey::from_setting("--key", &APPLE_SHAPED.replace('\n', "\\n")).unwrap();
    assert_eq!(loaded.path(), None);
    assert!(loaded.file_key_id().is_none());
    let garbled = APPLE_SHAPED.replace("-----END PRIVATE KEY-----", "");
    let err = LoadedKey::from_setting("SIWA_PRIVATE_KEY", &garbled).unwrap_err();
    assert!(matches!(err, KeySettingError::Text { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("SIWA_PRIVATE_KEY: the key is truncated"),
        "{err}"
    );
    assert_eq!(
        err.hint(),
        KeyError::Truncated {
            label: String::new()
        }
        .hint()
    );
}

#[test]
fn any_p256_key_file_loads_whatever_its_name_pem_or_der() {
    let dir = scratch("der");
    let body: String = APPLE_SHAPED
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let path = dir.join("session.der");
    std::fs::write(&path, STANDARD.decode(body).unwrap()).unwrap();
    let loaded = LoadedKey::from_setting("session_key", path.to_str().unwrap()).unwrap();
    assert!(loaded.file_key_id().is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn files_that_hold_no_key_are_named_with_what_is_wrong() {
    let dir = scratch("bad");
    let big = dir.join("AuthKey_ABC123DEFG.p8");
    std::fs::write(&big, vec![b' '; MAX_KEY_TEXT_LEN + 1]).unwrap();
    let cases = [
        (
            fixture("does-not-exist.p8"),
            "cannot read key file",
            "no such file",
        ),
        (fixture(""), "", "is a directory, not a key file"),
        (big, "", "bytes: not a key file"),
        (fixture("garbage.txt"), "garbage.txt: ", "no PEM block"),
        (fixture("rsa_pkcs8.pem"), "rsa_pkcs8.pem: ", "RSA"),
    ];
    for (path, start, end) in cases {
        let err = LoadedKey::from_setting("--key", path.to_str().unwrap()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&*path.display().to_string()), "{text}");
        assert!(text.contains(start) && text.contains(end), "{text}");
        assert!(!err.hint().is_empty());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
