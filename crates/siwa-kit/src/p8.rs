//! The `.p8` key Apple hands out: load it, name what is wrong with it, and
//! derive its public key.
//!
//! Apple's key file is a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) holding a
//! P-256 key; its name carries the Key ID (`AuthKey_<KEYID>.p8`). This module
//! also accepts a SEC1 `EC PRIVATE KEY` PEM and raw DER, and PEM text as
//! deployment tools mangle it (see [`KeyInput::from_setting`]). It reads a
//! file only through [`LoadedKey::from_setting`] and [`read_key_file`], the
//! one bounded loader of a key setting (a path or PEM text).
//!
//! Key material never appears in `Debug` output or errors, and the decoded
//! bytes are zeroized when dropped (aws-lc clears the key it holds on free).

//!
//! ## Files
//! - `key.rs`: [`SigningKey`], [`PublicKey`], [`KeyError`]: parsing PEM and
//!   DER, and naming what is wrong with a key.
//! - `setting.rs`: [`LoadedKey`], [`KeyInput`], [`read_key_file`],
//!   [`KeySettingError`]: a key from a setting (a path or PEM text), and
//!   [`key_id_from_file_name`].
//! - `der.rs`: the few DER reads the classification needs.

mod der;
mod key;
mod setting;

pub use key::{KeyError, PublicKey, SignError, SigningKey, MAX_KEY_TEXT_LEN};
pub use setting::{key_id_from_file_name, read_key_file, KeyInput, KeySettingError, LoadedKey};
