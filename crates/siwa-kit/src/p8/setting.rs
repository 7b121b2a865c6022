//! A key from a setting (`--key`, `SIWA_PRIVATE_KEY`, `private_key = ...`,
//! `session_key = ...`): the path of a key file or the PEM text itself.
//! [`LoadedKey::from_setting`] is the one loader: it reads a file bounded by
//! [`MAX_KEY_TEXT_LEN`] (a directory or anything larger is refused), parses
//! it, and keeps the Key ID that Apple's file name `AuthKey_<KEYID>.p8`
//! carries. Its errors ([`KeySettingError`]) name the file or the setting and
//! what is wrong, never key material.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;
use zeroize::Zeroizing;

use super::key::{KeyError, SigningKey, MAX_KEY_TEXT_LEN};
use crate::ids::KeyId;

/// A private key loaded from a setting, and the file it came from.
#[derive(Debug)]
pub struct LoadedKey {
    key: SigningKey,
    path: Option<PathBuf>,
}

impl LoadedKey {
    /// Loads the key a setting gives: PEM text, as [`KeyInput::from_setting`]
    /// reads it, or the path of a key file (PEM, or DER), read with
    /// [`read_key_file`]. `setting` names the setting in errors about PEM
    /// text (`--key`, `private_key`, ...).
    pub fn from_setting(setting: &str, value: &str) -> Result<Self, KeySettingError> {
        match KeyInput::from_setting(value) {
            KeyInput::Pem(text) => {
                let key = SigningKey::from_pem(&text).map_err(|source| KeySettingError::Text {
                    setting: setting.to_owned(),
                    source,
                })?;
                Ok(Self { key, path: None })
            }
            KeyInput::Path(path) => {
                let bytes = read_key_file(&path)?;
                match SigningKey::from_file_bytes(&bytes) {
                    Ok(key) => Ok(Self {
                        key,
                        path: Some(path),
                    }),
                    Err(source) => Err(KeySettingError::File { path, source }),
                }
            }
        }
    }

    /// The key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The key, for keeping.
    pub fn into_key(self) -> SigningKey {
        self.key
    }

    /// The file the key was read from; `None` for PEM text in the setting.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The Key ID of Apple's file name `AuthKey_<KEYID>.p8`, when the key
    /// came from a file so named.
    pub fn file_key_id(&self) -> Option<KeyId> {
        self.path.as_deref().and_then(key_id_from_file_name)
    }
}

/// Reads a key file (private or public), refusing a directory and anything
/// larger than [`MAX_KEY_TEXT_LEN`]; the bytes are zeroized when dropped.
pub fn read_key_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeySettingError> {
    let unreadable = |source| KeySettingError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(KeySettingError::Directory {
            path: path.to_owned(),
        });
    }
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_KEY_TEXT_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() > MAX_KEY_TEXT_LEN {
        return Err(KeySettingError::TooLarge {
            path: path.to_owned(),
            max: MAX_KEY_TEXT_LEN,
        });
    }
    Ok(bytes)
}

/// Why a key setting gave no key. Never holds key material.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeySettingError {
    /// The path is a directory.
    #[error("{} is a directory, not a key file", path.display())]
    Directory {
        /// The path given.
        path: PathBuf,
    },
    /// The file holds no usable key.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with its key.
        #[source]
        source: KeyError,
    },
    /// The PEM text in the setting is no usable key.
    #[error("{setting}: {source}")]
    Text {
        /// The setting's name.
        setting: String,
        /// What is wrong with the key.
        #[source]
        source: KeyError,
    },
    /// The file is larger than any key file.
    #[error("{} is larger than {max} bytes: not a key file", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// [`MAX_KEY_TEXT_LEN`].
        max: usize,
    },
    /// The file cannot be opened or read.
    #[error("cannot read key file {}: {}", path.display(), io_reason(source))]
    Unreadable {
        /// The path given.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl KeySettingError {
    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Directory { .. } | Self::TooLarge { .. } | Self::Unreadable { .. } => {
                "check the path and its permissions (Apple's team key is the AuthKey_<KEYID>.p8 file from the Keys page)"
            }
            Self::File { source, .. } | Self::Text { source, .. } => source.hint(),
        }
    }
}

/// An io error without the "(os error 2)" noise.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Reads the Key ID from Apple's file name `AuthKey_<KEYID>.p8`.
pub fn key_id_from_file_name(path: &Path) -> Option<KeyId> {
    let name = path.file_name()?.to_str()?;
    let kid = name.strip_prefix("AuthKey_")?.strip_suffix(".p8")?;
    KeyId::new(kid).ok()
}

/// A key setting (`SIWA_PRIVATE_KEY`, `private_key = ...`): a path or the PEM text.
#[derive(Eq, PartialEq)]
pub enum KeyInput {
    /// PEM text, with deployment mangling undone.
    Pem(Zeroizing<String>),
    /// A path to read the key from.
    Path(PathBuf),
}

impl KeyInput {
    /// Reads a setting that holds a path or the PEM text itself, also as
    /// deployment tools mangle it: surrounding quotes, literal `\n` escapes,
    /// and spaces in place of newlines (the PEM parser ignores whitespace).
    pub fn from_setting(value: &str) -> Self {
        let trimmed = strip_quotes(value.trim());
        if trimmed.contains("-----BEGIN") {
            let text = trimmed
                .replace("\\r\\n", "\n")
                .replace("\\n", "\n")
                .replace("\\r", "\n");
            Self::Pem(Zeroizing::new(text))
        } else {
            Self::Path(PathBuf::from(trimmed))
        }
    }
}

impl fmt::Debug for KeyInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pem(_) => f.write_str("Pem([redacted])"),
            Self::Path(p) => f.debug_tuple("Path").field(p).finish(),
        }
    }
}

fn strip_quotes(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.trim();
        }
    }
    s
}

#[cfg(test)]
mod tests;
