//! Settings a flag leaves out, from `SIWA_*` environment variables, and the
//! key file: read with a size bound and turned into a clear error when bad.

use std::io::Read;
use std::path::{Path, PathBuf};

use siwa_kit::p8::{key_id_from_file_name, KeyInput, SigningKey, MAX_KEY_TEXT_LEN};

use crate::failure::Failure;

/// The flag's value, else the environment variable's (empty counts as unset).
pub(crate) fn setting(flag: Option<String>, env: &str) -> Option<String> {
    flag.or_else(|| std::env::var(env).ok())
        .filter(|v| !v.trim().is_empty())
}

/// A loaded private key, with the Key ID its file name carries.
#[derive(Debug)]
pub(crate) struct LoadedKey {
    pub(crate) key: SigningKey,
    /// How to name the key in messages (the file name, or "SIWA_PRIVATE_KEY").
    pub(crate) label: String,
    pub(crate) file_kid: Option<siwa_kit::ids::KeyId>,
}

/// Loads the private key from `--key` or `SIWA_PRIVATE_KEY` (a path or PEM text).
pub(crate) fn load_private_key(flag: Option<String>) -> Result<LoadedKey, Failure> {
    let from_flag = flag.is_some();
    let Some(value) = setting(flag, "SIWA_PRIVATE_KEY") else {
        return Err(Failure::usage(
            "no private key given",
            "pass --key AuthKey_<KEYID>.p8 or set SIWA_PRIVATE_KEY to its path or PEM text",
        ));
    };
    match KeyInput::from_setting(&value) {
        KeyInput::Pem(text) => {
            let label = if from_flag {
                "--key"
            } else {
                "SIWA_PRIVATE_KEY"
            };
            let key = SigningKey::from_pem(&text)
                .map_err(|e| Failure::usage(format!("{label}: {e}"), e.hint()))?;
            Ok(LoadedKey {
                key,
                label: format!("the key in {label}"),
                file_kid: None,
            })
        }
        KeyInput::Path(path) => {
            let bytes = read_bounded(&path)?;
            let key = SigningKey::from_file_bytes(&bytes)
                .map_err(|e| Failure::usage(format!("{}: {e}", path.display()), e.hint()))?;
            Ok(LoadedKey {
                key,
                label: file_label(&path),
                file_kid: key_id_from_file_name(&path),
            })
        }
    }
}

/// Reads a key file, refusing directories and anything larger than a key.
pub(crate) fn read_bounded(path: &Path) -> Result<Vec<u8>, Failure> {
    let shown = path.display();
    let hint = "check the path; Apple's key file is AuthKey_<KEYID>.p8 from the Keys page";
    let file = std::fs::File::open(path).map_err(|e| {
        Failure::usage(
            format!("cannot read key file {shown}: {}", io_reason(&e)),
            hint,
        )
    })?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(Failure::usage(
            format!("{shown} is a directory, not a key file"),
            hint,
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_KEY_TEXT_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            Failure::usage(
                format!("cannot read key file {shown}: {}", io_reason(&e)),
                hint,
            )
        })?;
    if bytes.len() > MAX_KEY_TEXT_LEN {
        return Err(Failure::usage(
            format!("{shown} is larger than {MAX_KEY_TEXT_LEN} bytes: not a key file"),
            hint,
        ));
    }
    Ok(bytes)
}

/// The file name alone, for messages.
pub(crate) fn file_label(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| PathBuf::from(path).display().to_string())
}

/// An io error without the "(os error 2)" noise.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
