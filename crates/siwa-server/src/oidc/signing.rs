//! The provider's RSA keys: the first signs ID tokens (RS256, which every
//! OpenID Connect client can check); all of them are published, so that a key
//! being retired still verifies the tokens it signed (rotation with overlap).
//!
//! From `[oidc] signing_keys` (PKCS#8 PEM text or paths, newest first); on
//! SQLite without it, one key is generated on first start into
//! `siwa-oidc-signing-key.pem` (mode 0600) beside the database. PostgreSQL
//! deployments configure them, so that replicas share them.

use std::fmt;
use std::path::Path;

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::Serialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::config::ConfigError;
use crate::keys::write_private;
use crate::secrets::SecretSetting;
use crate::store::DatabaseUrl;

/// The key file written beside a SQLite database.
pub const SIGNING_KEY_FILE_NAME: &str = "siwa-oidc-signing-key.pem";
/// Largest key file or setting read (an 8192-bit PKCS#8 PEM is about 6.5 KiB).
const MAX_KEY_TEXT: u64 = 16 * 1024;
/// Smallest RSA key accepted (RFC 7518 §3.3).
const MIN_BITS: usize = 2048;

const SETTING: &str = "oidc.signing_keys";

/// One RSA signing key and its `kid`.
struct RsaKey {
    kid: String,
    pair: KeyPair,
}

/// The provider's RSA keys, newest (the signer) first.
pub(crate) struct SigningKeys {
    keys: Vec<RsaKey>,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeys")
            .field(
                "kids",
                &self.keys.iter().map(|k| &k.kid).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl SigningKeys {
    /// The keys of `signing_keys`; when absent, from (or into) the key file
    /// beside a SQLite database.
    pub(crate) fn resolve(
        settings: Option<Vec<SecretSetting>>,
        database_url: &DatabaseUrl,
    ) -> Result<Self, ConfigError> {
        match settings.filter(|list| !list.is_empty()) {
            Some(list) => {
                let keys = list
                    .iter()
                    .enumerate()
                    .map(|(n, setting)| {
                        let pem = pem_of_setting(setting.secret())
                            .map_err(|why| ConfigError::new(format!("{SETTING}[{n}]"), why))?;
                        RsaKey::from_pem(&pem)
                            .map_err(|why| ConfigError::new(format!("{SETTING}[{n}]"), why))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Self { keys })
            }
            None => match database_url.sqlite_dir() {
                Some(dir) => Self::from_key_file(&dir.join(SIGNING_KEY_FILE_NAME)),
                None if database_url.is_sqlite() => Self::generate(),
                None => Err(ConfigError::new(
                    SETTING,
                    "a PostgreSQL deployment must configure it (shared by every replica): \
                     make a key with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`",
                )),
            },
        }
    }

    /// One fresh key (in-memory databases and tests).
    pub(crate) fn generate() -> Result<Self, ConfigError> {
        let pem = new_key_pem()?;
        Ok(Self {
            keys: vec![RsaKey::from_pem(&pem).map_err(|why| ConfigError::new(SETTING, why))?],
        })
    }

    fn from_key_file(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let pem = if path.exists() {
            read_bounded(path).map_err(|why| ConfigError::new(&shown, why))?
        } else {
            let pem = new_key_pem()?;
            write_private(path, pem.as_bytes())
                .map_err(|e| ConfigError::new(&shown, format!("cannot write: {e}")))?;
            tracing::info!(path = %shown, "generated the OpenID provider's signing key");
            pem
        };
        Ok(Self {
            keys: vec![RsaKey::from_pem(&pem).map_err(|why| ConfigError::new(&shown, why))?],
        })
    }

    /// Signs `payload` as a compact RS256 JWS with the newest key.
    pub(crate) fn sign(&self, typ: &str, payload: &[u8]) -> Option<String> {
        let key = self.keys.first()?;
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'static str,
            kid: &'a str,
            typ: &'a str,
        }
        let header = serde_json::to_vec(&Header {
            alg: "RS256",
            kid: &key.kid,
            typ,
        })
        .ok()?;
        let mut jwt = URL_SAFE_NO_PAD.encode(header);
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut jwt);
        let mut signature = vec![0u8; key.pair.public_modulus_len()];
        key.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                jwt.as_bytes(),
                &mut signature,
            )
            .ok()?;
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut jwt);
        Some(jwt)
    }

    /// The public JWKs, newest first.
    pub(crate) fn jwks(&self) -> Vec<Value> {
        self.keys
            .iter()
            .map(|key| {
                let public = key.pair.public_key();
                json!({
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": key.kid,
                    "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                    "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
                })
            })
            .collect()
    }
}

impl RsaKey {
    fn from_pem(pem: &str) -> Result<Self, String> {
        if pem.contains("BEGIN RSA PRIVATE KEY") {
            return Err("a PKCS#1 key (BEGIN RSA PRIVATE KEY): convert it with \
                 `openssl pkcs8 -topk8 -nocrypt -in old.pem -out new.pem`"
                .into());
        }
        let der = pem_body(pem, "PRIVATE KEY").ok_or(
            "not a PEM private key (-----BEGIN PRIVATE KEY-----): make one with \
             `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`",
        )?;
        let pair = KeyPair::from_pkcs8(&der)
            .map_err(|e| format!("not an RSA private key ({e}); the ID tokens are signed RS256"))?;
        let bits = pair.public_modulus_len() * 8;
        if bits < MIN_BITS {
            return Err(format!("a {bits}-bit key: use at least {MIN_BITS} bits"));
        }
        // The kid: the key's own digest, so that it changes with the key.
        let public_der = pair
            .public_key()
            .as_der()
            .map_err(|_| "its public key cannot be encoded".to_owned())?;
        let thumb = digest(&SHA256, public_der.as_ref());
        Ok(Self {
            kid: URL_SAFE_NO_PAD.encode(&thumb.as_ref()[..12]),
            pair,
        })
    }
}

/// A setting's PEM: the text itself, or the file it names.
fn pem_of_setting(setting: &str) -> Result<Zeroizing<String>, String> {
    if setting.contains("-----BEGIN") {
        return Ok(Zeroizing::new(setting.to_owned()));
    }
    read_bounded(Path::new(setting.trim()))
}

fn read_bounded(path: &Path) -> Result<Zeroizing<String>, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() || meta.len() > MAX_KEY_TEXT {
        return Err(format!(
            "{shown} is not a key file (a file of at most {MAX_KEY_TEXT} bytes)"
        ));
    }
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| format!("cannot read {shown}: {e}"))
}

/// The DER inside a PEM block of `label`.
fn pem_body(pem: &str, label: &str) -> Option<Zeroizing<Vec<u8>>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let text: Zeroizing<String> = Zeroizing::new(
        pem[start..stop]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect(),
    );
    STANDARD.decode(text.as_bytes()).ok().map(Zeroizing::new)
}

/// A new 2048-bit RSA key as PKCS#8 PEM, for `[oidc] signing_keys`.
pub fn new_key_pem() -> Result<Zeroizing<String>, ConfigError> {
    let pair = KeyPair::generate(KeySize::Rsa2048)
        .map_err(|_| ConfigError::new(SETTING, "RSA key generation failed"))?;
    let der = pair
        .as_der()
        .map_err(|_| ConfigError::new(SETTING, "RSA key encoding failed"))?;
    let b64 = Zeroizing::new(STANDARD.encode(der.as_ref()));
    let mut pem = Zeroizing::new(String::from("-----BEGIN PRIVATE KEY-----\n"));
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_with_the_first_key_and_publishes_all() {
        let (a, b) = (new_key_pem().unwrap(), new_key_pem().unwrap());
        let keys = SigningKeys::resolve(
            Some(vec![a.as_str().into(), b.as_str().into()]),
            &DatabaseUrl::new("postgres://x"),
        )
        .unwrap();
        let jwks = keys.jwks();
        assert_eq!(jwks.len(), 2);
        assert_ne!(jwks[0]["kid"], jwks[1]["kid"]);
        let token = keys.sign("JWT", br#"{"sub":"u"}"#).unwrap();
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], jwks[0]["kid"]);
        // The signature checks with the published n and e.
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let n = URL_SAFE_NO_PAD
            .decode(jwks[0]["n"].as_str().unwrap())
            .unwrap();
        let e = URL_SAFE_NO_PAD
            .decode(jwks[0]["e"].as_str().unwrap())
            .unwrap();
        let public = aws_lc_rs::signature::RsaPublicKeyComponents { n: &n, e: &e };
        public
            .verify(
                &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                signed.as_bytes(),
                &URL_SAFE_NO_PAD.decode(signature).unwrap(),
            )
            .unwrap();
    }

    #[test]
    fn bad_settings_say_what_to_do() {
        let postgres = DatabaseUrl::new("postgres://x");
        let missing = SigningKeys::resolve(None, &postgres).unwrap_err();
        assert!(missing.problem.contains("openssl genpkey"), "{missing}");
        let pkcs1 = SigningKeys::resolve(
            Some(vec![
                "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----".into(),
            ]),
            &postgres,
        )
        .unwrap_err();
        assert!(pkcs1.problem.contains("openssl pkcs8"), "{pkcs1}");
        assert_eq!(pkcs1.setting, "oidc.signing_keys[0]");
        let nowhere =
            SigningKeys::resolve(Some(vec!["/nonexistent/key.pem".into()]), &postgres).unwrap_err();
        assert!(nowhere.problem.contains("cannot read"), "{nowhere}");
        // An EC key is no RSA key.
        let ec = include_str!("../../../siwa-kit/tests/fixtures/AuthKey_ABC123DEFG.p8");
        let ec = SigningKeys::resolve(Some(vec![ec.into()]), &postgres).unwrap_err();
        assert!(ec.problem.contains("not an RSA private key"), "{ec}");
        assert!(
            !format!("{ec:?}").contains("BEGIN"),
            "the key text is not echoed"
        );
    }

    #[test]
    fn the_key_file_is_made_once_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let mut name = [0u8; 6];
        aws_lc_rs::rand::fill(&mut name).unwrap();
        let dir =
            std::env::temp_dir().join(format!("siwa-oidc-keys-{}", URL_SAFE_NO_PAD.encode(name)));
        let url = DatabaseUrl::new(format!("sqlite://{}/siwa.db", dir.display()));
        let first = SigningKeys::resolve(None, &url).unwrap();
        let again = SigningKeys::resolve(None, &url).unwrap();
        assert_eq!(first.jwks(), again.jwks());
        let mode = std::fs::metadata(dir.join(SIGNING_KEY_FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(dir);
    }
}
