//! Settings a flag leaves out, from `SIWA_*` environment variables, and the
//! private key (through siwa-kit's one key loader), with a clear error when
//! bad.

use std::path::{Path, PathBuf};

use siwa_kit::p8::{KeySettingError, LoadedKey, SigningKey};

use crate::failure::Failure;

/// The flag's value, else the environment variable's (empty counts as unset).
pub(crate) fn setting(flag: Option<String>, env: &str) -> Option<String> {
    flag.or_else(|| std::env::var(env).ok())
        .filter(|v| !v.trim().is_empty())
}

/// A loaded private key, named for messages, with the Key ID its file name carries.
#[derive(Debug)]
pub(crate) struct NamedKey {
    pub(crate) key: SigningKey,
    /// How to name the key in messages (the file name, or "the key in SIWA_PRIVATE_KEY").
    pub(crate) label: String,
    pub(crate) file_kid: Option<siwa_kit::ids::KeyId>,
}

/// Loads the private key from `--key` or `SIWA_PRIVATE_KEY` (a path or PEM text).
pub(crate) fn load_private_key(flag: Option<String>) -> Result<NamedKey, Failure> {
    let name = if flag.is_some() {
        "--key"
    } else {
        "SIWA_PRIVATE_KEY"
    };
    let Some(value) = setting(flag, "SIWA_PRIVATE_KEY") else {
        return Err(Failure::usage(
            "no private key given",
            "pass --key AuthKey_<KEYID>.p8 or set SIWA_PRIVATE_KEY to its path or PEM text",
        ));
    };
    let loaded = LoadedKey::from_setting(name, &value).map_err(key_failure)?;
    let label = match loaded.path() {
        Some(path) => file_label(path),
        None => format!("the key in {name}"),
    };
    Ok(NamedKey {
        file_kid: loaded.file_key_id(),
        key: loaded.into_key(),
        label,
    })
}

/// A key setting that gave no key: a usage error, with the kit's hint.
pub(crate) fn key_failure(e: KeySettingError) -> Failure {
    Failure::usage(&e, e.hint())
}

/// The file name alone, for messages.
pub(crate) fn file_label(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| PathBuf::from(path).display().to_string())
}
