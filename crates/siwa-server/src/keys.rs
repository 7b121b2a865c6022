//! The service's own keys: `session_key` signs our access tokens (ES256),
//! `encryption_key` encrypts Apple refresh tokens at rest (AES-256-GCM).
//!
//! From the configuration when given. On SQLite, when absent, they are
//! generated on first start into a key file (mode 0600) beside the database; a
//! PostgreSQL deployment must configure both, so replicas share them and a
//! stolen database holds no key.

use std::fmt;
use std::path::Path;

use aws_lc_rs::aead::{Aad, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::{Deserialize, Serialize};
use siwa_kit::p8::{LoadedKey, SigningKey};
use zeroize::Zeroizing;

use crate::config::ConfigError;
use crate::store::DatabaseUrl;

/// The key file written beside a SQLite database.
pub const KEY_FILE_NAME: &str = "siwa-service-keys.json";

/// The associated data of Apple refresh tokens sealed before they were bound
/// to their identity (read only, for rows written by earlier versions).
const LEGACY_TOKEN_AAD: &[u8] = b"siwa apple refresh token v1";

/// What a sealed value is bound to: its purpose and the row it belongs to,
/// as AES-GCM associated data. A ciphertext moved to another row (or used for
/// another purpose) does not open.
#[derive(Debug)]
pub(crate) enum Sealed<'a> {
    /// Apple's refresh token of an identity (team, sub) for a client id.
    AppleToken {
        team_id: &'a str,
        sub: &'a str,
        client_id: &'a str,
    },
    /// The successor of a spent refresh token (by the spent token's hash).
    Successor { spent_hash: &'a [u8] },
    /// A relying party's authorization request waiting for its sign-in with
    /// Apple (carried in the URL the browser comes back to).
    AuthorizationRequest,
    /// The round trip of `/readyz?deep=1` (never stored).
    ReadinessProbe,
}

impl Sealed<'_> {
    fn aad(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(128);
        match self {
            Self::AppleToken {
                team_id,
                sub,
                client_id,
            } => {
                aad.extend_from_slice(b"siwa apple refresh token v2");
                for part in [team_id, sub, client_id] {
                    // Length-prefixed, so that no two triples share a byte string.
                    aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
                    aad.extend_from_slice(part.as_bytes());
                }
            }
            Self::Successor { spent_hash } => {
                aad.extend_from_slice(b"siwa refresh successor v1");
                aad.extend_from_slice(spent_hash);
            }
            Self::AuthorizationRequest => {
                aad.extend_from_slice(b"siwa oidc authorization request v1")
            }
            Self::ReadinessProbe => aad.extend_from_slice(b"siwa readiness probe v1"),
        }
        aad
    }
}

/// The service's keys.
pub struct ServiceKeys {
    session: SigningKey,
    session_kid: String,
    encryption: RandomizedNonceKey,
}

impl fmt::Debug for ServiceKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceKeys")
            .field("session_kid", &self.session_kid)
            .finish_non_exhaustive()
    }
}

/// What the key file holds.
#[derive(Deserialize, Serialize)]
struct KeyFile {
    session_key: String,
    encryption_key: String,
}

impl ServiceKeys {
    /// The keys of the settings `session_key` and `encryption_key`; when
    /// neither is set, from (or into) the key file beside a SQLite database.
    pub fn resolve(
        session_key: Option<&str>,
        encryption_key: Option<&str>,
        database_url: &DatabaseUrl,
    ) -> Result<Self, ConfigError> {
        match (session_key, encryption_key) {
            (Some(session), Some(encryption)) => Self::from_settings(session, encryption),
            (None, None) => match database_url.sqlite_dir() {
                Some(dir) => Self::from_key_file(&dir.join(KEY_FILE_NAME)),
                None if database_url.is_sqlite() => Self::generate(),
                None => Err(ConfigError::new(
                    "session_key/encryption_key",
                    "a PostgreSQL deployment must configure both (shared by every replica); generate them with `siwa serve --print-new-keys`",
                )),
            },
            _ => Err(ConfigError::new("session_key/encryption_key", "configure both or neither")),
        }
    }

    /// Fresh keys (for in-memory databases and tests).
    pub fn generate() -> Result<Self, ConfigError> {
        let file = new_key_file()?;
        Self::from_settings(&file.session_key, &file.encryption_key)
    }

    /// New keys as settings text: (session_key PEM, encryption_key base64).
    pub fn new_settings() -> Result<(Zeroizing<String>, Zeroizing<String>), ConfigError> {
        let file = new_key_file()?;
        Ok((
            Zeroizing::new(file.session_key),
            Zeroizing::new(file.encryption_key),
        ))
    }

    fn from_settings(session: &str, encryption: &str) -> Result<Self, ConfigError> {
        let session = LoadedKey::from_setting("session_key", session)
            .map(LoadedKey::into_key)
            .map_err(|e| {
                ConfigError::new(
                    "session_key",
                    format!("{e}; it must be a P-256 private key (siwa serve --print-new-keys makes one)"),
                )
            })?;
        let raw = Zeroizing::new(
            STANDARD
                .decode(encryption.trim())
                .map_err(|_| ConfigError::new("encryption_key", "not base64"))?,
        );
        if raw.len() != 32 {
            return Err(ConfigError::new(
                "encryption_key",
                format!(
                    "{} bytes; it must be 32 random bytes, base64 (openssl rand -base64 32)",
                    raw.len()
                ),
            ));
        }
        let encryption = RandomizedNonceKey::new(&AES_256_GCM, &raw)
            .map_err(|_| ConfigError::new("encryption_key", "rejected by AES-256-GCM"))?;
        let thumb = digest(&SHA256, session.public_key().point());
        let session_kid = URL_SAFE_NO_PAD.encode(&thumb.as_ref()[..12]);
        Ok(Self {
            session,
            session_kid,
            encryption,
        })
    }

    fn from_key_file(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        if path.exists() {
            let text = Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::new(&shown, format!("cannot read: {e}")))?,
            );
            let file: KeyFile = serde_json::from_str(&text)
                .map_err(|e| ConfigError::new(&shown, format!("not a siwa key file: {e}")))?;
            return Self::from_settings(&file.session_key, &file.encryption_key);
        }
        let file = new_key_file()?;
        let text = Zeroizing::new(
            serde_json::to_string_pretty(&file)
                .map_err(|e| ConfigError::new(&shown, e.to_string()))?,
        );
        write_private(path, text.as_bytes())
            .map_err(|e| ConfigError::new(&shown, format!("cannot write: {e}")))?;
        tracing::info!(path = %shown, "generated the service keys (session signing, token encryption)");
        Self::from_settings(&file.session_key, &file.encryption_key)
    }

    /// The key that signs our tokens.
    pub(crate) fn session(&self) -> &SigningKey {
        &self.session
    }

    /// Its `kid`.
    pub(crate) fn session_kid(&self) -> &str {
        &self.session_kid
    }

    /// The JWKS of `/.well-known/jwks.json`.
    pub fn jwks(&self) -> serde_json::Value {
        let mut jwk = self.session.public_key().to_jwk(None);
        if let Some(obj) = jwk.as_object_mut() {
            obj.insert("kid".into(), self.session_kid.clone().into());
        }
        serde_json::json!({ "keys": [jwk] })
    }

    /// Encrypts a secret bound to `what`: `nonce || ciphertext || tag`.
    pub(crate) fn seal(&self, plaintext: &str, what: &Sealed<'_>) -> Option<Vec<u8>> {
        let mut data = Zeroizing::new(plaintext.as_bytes().to_vec());
        let nonce = self
            .encryption
            .seal_in_place_append_tag(Aad::from(what.aad()), &mut *data)
            .ok()?;
        let mut out = nonce.as_ref().to_vec();
        out.extend_from_slice(&data);
        Some(out)
    }

    /// Decrypts what [`Self::seal`] made for the same `what`; `None` when it
    /// was altered, made for another row or purpose, or by another key. An
    /// Apple token sealed before tokens were bound to their identity still
    /// opens (rows of earlier versions; rewritten at the next sign-in).
    pub(crate) fn open(&self, sealed: &[u8], what: &Sealed<'_>) -> Option<Zeroizing<String>> {
        self.open_with(sealed, &what.aad()).or_else(|| match what {
            Sealed::AppleToken { .. } => self.open_with(sealed, LEGACY_TOKEN_AAD),
            Sealed::Successor { .. } | Sealed::AuthorizationRequest | Sealed::ReadinessProbe => {
                None
            }
        })
    }

    fn open_with(&self, sealed: &[u8], aad: &[u8]) -> Option<Zeroizing<String>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = aws_lc_rs::aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = Zeroizing::new(ciphertext.to_vec());
        let plain = self
            .encryption
            .open_in_place(nonce, Aad::from(aad), &mut data)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok().map(Zeroizing::new)
    }
}

fn new_key_file() -> Result<KeyFile, ConfigError> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| ConfigError::new("session_key", "key generation failed"))?;
    let b64 = Zeroizing::new(STANDARD.encode(pkcs8.as_ref()));
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    let mut raw = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(raw.as_mut())
        .map_err(|_| ConfigError::new("encryption_key", "random generator failed"))?;
    Ok(KeyFile {
        session_key: pem,
        encryption_key: STANDARD.encode(raw.as_ref()),
    })
}

/// Writes a new file readable by its owner only (never over an existing one).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE_WEB: Sealed<'static> = Sealed::AppleToken {
        team_id: "DEF123GHIJ",
        sub: "001.alice.01",
        client_id: "com.example.web",
    };

    #[test]
    fn seal_and_open_round_trip_and_detect_tampering() {
        let keys = ServiceKeys::generate().unwrap();
        let token = "rb2ae81cc3283454cbc9e8f010530a7dd.0.rsqsu.fi7hx7kpvMDrwWQrBrJmhA";
        let sealed = keys.seal(token, &ALICE_WEB).unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("rb2ae81"));
        assert_eq!(keys.open(&sealed, &ALICE_WEB).unwrap().as_str(), token);
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(keys.open(&tampered, &ALICE_WEB).is_none());
        assert!(
            ServiceKeys::generate()
                .unwrap()
                .open(&sealed, &ALICE_WEB)
                .is_none(),
            "another key cannot open it"
        );
    }

    /// Finding 10 of the security review: a ciphertext copied into another
    /// identity's row (or another client's, or used as a refresh successor) does not open.
    #[test]
    fn apple_token_ciphertexts_are_bound_to_their_identity() {
        let keys = ServiceKeys::generate().unwrap();
        let sealed = keys.seal("r-alice", &ALICE_WEB).unwrap();
        for other in [
            Sealed::AppleToken {
                team_id: "DEF123GHIJ",
                sub: "001.mallory.01",
                client_id: "com.example.web",
            },
            Sealed::AppleToken {
                team_id: "DEF123GHIJ",
                sub: "001.alice.01",
                client_id: "com.example.ios",
            },
            Sealed::AppleToken {
                team_id: "OTHERTEAM1",
                sub: "001.alice.01",
                client_id: "com.example.web",
            },
            // Shifting a byte between parts does not make the same data.
            Sealed::AppleToken {
                team_id: "DEF123GHI",
                sub: "J001.alice.01",
                client_id: "com.example.web",
            },
            Sealed::Successor {
                spent_hash: b"001.alice.01",
            },
        ] {
            assert!(keys.open(&sealed, &other).is_none(), "{other:?}");
        }
        // A token sealed by an earlier version (no identity binding) still opens.
        let mut legacy = b"r-legacy".to_vec();
        let nonce = keys
            .encryption
            .seal_in_place_append_tag(Aad::from(LEGACY_TOKEN_AAD), &mut legacy)
            .unwrap();
        let legacy = [nonce.as_ref().as_slice(), legacy.as_slice()].concat();
        assert_eq!(keys.open(&legacy, &ALICE_WEB).unwrap().as_str(), "r-legacy");
        let successor = Sealed::Successor { spent_hash: b"x" };
        assert!(keys.open(&legacy, &successor).is_none());
    }

    #[test]
    fn key_file_is_created_once_with_owner_only_mode() {
        let dir = std::env::temp_dir().join(format!("siwa-keys-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join(KEY_FILE_NAME);
        let first = ServiceKeys::from_key_file(&path).unwrap();
        let second = ServiceKeys::from_key_file(&path).unwrap();
        assert_eq!(first.session_kid(), second.session_kid());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_encryption_key_is_refused() {
        let (session, _) = ServiceKeys::new_settings().unwrap();
        let err = ServiceKeys::from_settings(&session, "c2hvcnQ=").unwrap_err();
        assert!(err.problem.contains("32"), "{err}");
    }
}
