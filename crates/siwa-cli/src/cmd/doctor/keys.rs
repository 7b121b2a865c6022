//! The preflight's key checks: `key_file` (the team's `.p8` is the `key_id`'s)
//! and `service_keys` (the service's own keys, set as a replicated deployment
//! needs them). Neither prints a key.

use siwa_kit::p8::{key_id_from_file_name, KeyInput, PublicKey};
use siwa_server::config::DEFAULT_DATABASE_URL;
use siwa_server::keys::KEY_FILE_NAME;
use siwa_server::store::DatabaseUrl;
use siwa_server::{RawSettings, ServiceKeys, Settings};

use super::report::Finding;
use crate::settings::file_label;

const KEY_FILE: &str = "key_file";
const SERVICE_KEYS: &str = "service_keys";
const NEW_KEYS_HINT: &str = "run `siwa serve --print-new-keys` and give every replica the same session_key and encryption_key (in the config, or SIWA_SESSION_KEY and SIWA_ENCRYPTION_KEY)";

/// `key_file`: the file name `AuthKey_<KEYID>.p8` agrees with `key_id`, and
/// the key's public half is `expected` (`--public-key`) when given.
pub(super) fn key_file(
    raw: &RawSettings,
    settings: &Settings,
    expected: Option<&PublicKey>,
) -> Finding {
    let key_id = settings.key_id.as_str();
    let value = raw.private_key.as_ref().map_or("", |s| s.secret());
    let (label, file_kid) = match KeyInput::from_setting(value) {
        KeyInput::Path(path) => (file_label(&path), key_id_from_file_name(&path)),
        KeyInput::Pem(_) => ("the private_key PEM text".to_owned(), None),
    };
    if let Some(kid) = file_kid.as_ref().filter(|kid| kid.as_str() != key_id) {
        return Finding::fail(
            KEY_FILE,
            format!("{label} is the key file of Key ID {kid}, but key_id is {key_id}"),
            format!("Apple names each key's file AuthKey_<KEYID>.p8: set key_id = \"{kid}\" if this is the key you mean, or private_key to the path of AuthKey_{key_id}.p8"),
        );
    }
    if let Some(expected) = expected {
        return if settings.apple_key.public_key() == expected {
            Finding::pass(
                KEY_FILE,
                format!("{label} holds the private half of the --public-key given"),
            )
        } else {
            Finding::fail(
                KEY_FILE,
                format!("{label} is not the private half of the --public-key given"),
                format!("point private_key at the .p8 of Key ID {key_id} (`siwa pubkey --key FILE` prints a key file's public key, to compare)"),
            )
        };
    }
    match file_kid {
        Some(_) => Finding::pass(
            KEY_FILE,
            format!("{label} is a P-256 key named for key_id {key_id}"),
        ),
        None => Finding::pass(
            KEY_FILE,
            format!("{label} is a P-256 key; no file name AuthKey_<KEYID>.p8 to compare with key_id {key_id} (--public-key compares the key itself, --probe asks Apple)"),
        ),
    }
}

/// `service_keys`, from the settings as written; and the settings to load:
/// where the service would refuse to start for want of keys (PostgreSQL) or
/// write a new key file (SQLite, first start), the same settings with
/// throwaway keys, so that the other checks still run and nothing is written.
pub(super) fn service_keys(raw: &RawSettings) -> (Finding, RawSettings) {
    let mut to_load = raw.clone();
    let database = DatabaseUrl::new(
        raw.database_url
            .clone()
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
    );
    let finding = match (&raw.session_key, &raw.encryption_key) {
        (Some(_), Some(_)) => Finding::pass(
            SERVICE_KEYS,
            "session_key and encryption_key are set (every replica needs the same two)",
        ),
        // The service refuses one without the other: loading says so (exit 2).
        (Some(_), None) | (None, Some(_)) => {
            Finding::fail(SERVICE_KEYS, "only one of the two is set", NEW_KEYS_HINT)
        }
        (None, None) if !database.is_sqlite() => {
            throwaway_keys(&mut to_load);
            Finding::fail(
                SERVICE_KEYS,
                format!(
                    "session_key and encryption_key are not set, and {} is PostgreSQL: siwa serve refuses to start, since replicas must share them and generated keys would differ per replica",
                    database.place()
                ),
                NEW_KEYS_HINT,
            )
        }
        (None, None) => match database.sqlite_dir() {
            Some(dir) if dir.join(KEY_FILE_NAME).exists() => Finding::pass(
                SERVICE_KEYS,
                format!(
                    "from the key file {} beside the SQLite database (one process; set them before moving to PostgreSQL replicas)",
                    dir.join(KEY_FILE_NAME).display()
                ),
            ),
            Some(dir) => {
                throwaway_keys(&mut to_load);
                Finding::warn(
                    SERVICE_KEYS,
                    format!(
                        "not set: siwa serve generates them at its first start into {} (mode 0600)",
                        dir.join(KEY_FILE_NAME).display()
                    ),
                    "back that file up with the database (sessions and stored Apple tokens need it), or set session_key and encryption_key (siwa serve --print-new-keys)",
                )
            }
            None => Finding::warn(
                SERVICE_KEYS,
                "not set, and the database is in memory: new keys at every start, so no session outlives a restart",
                "for a deployment, use a database file or PostgreSQL, and set session_key and encryption_key (siwa serve --print-new-keys)",
            ),
        },
    };
    (finding, to_load)
}

/// Fresh keys in the settings to load (never printed, never kept).
fn throwaway_keys(raw: &mut RawSettings) {
    if let Ok((session, encryption)) = ServiceKeys::new_settings() {
        raw.session_key = Some(session.as_str().into());
        raw.encryption_key = Some(encryption.as_str().into());
    }
}
