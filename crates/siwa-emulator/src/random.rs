//! Random identifiers in Apple's shapes, and the hashes Apple derives.

use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Unpadded base64url.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `n` random bytes from the system's secure generator.
pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    // A failing system RNG leaves zeros; aws-lc aborts long before that in practice.
    let _ = aws_lc_rs::rand::fill(&mut out);
    out
}

/// `n` random characters of `A-Za-z0-9`.
pub(crate) fn random_alnum(n: usize) -> String {
    random_bytes(n)
        .iter()
        .map(|b| char::from(ALNUM[usize::from(*b) % ALNUM.len()]))
        .collect()
}

/// `n` random lowercase hex characters.
pub(crate) fn random_hex(n: usize) -> String {
    hex(&random_bytes(n.div_ceil(2)))[..n].to_owned()
}

/// A code or token in Apple's shape: `<prefix><32 hex>.0.<tag>.<22 base64url>`.
pub(crate) fn apple_token(prefix: char) -> String {
    let tag: String = random_bytes(4)
        .iter()
        .map(|b| char::from(b'a' + b % 26))
        .collect();
    format!(
        "{prefix}{}.0.{tag}.{}",
        random_hex(32),
        b64url(&random_bytes(16))
    )
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256.
pub(crate) fn sha256(data: &[u8]) -> Vec<u8> {
    digest(&SHA256, data).as_ref().to_vec()
}

/// OIDC `at_hash` / `c_hash`: base64url of the left half of SHA-256 of the token.
pub(crate) fn half_hash(token: &str) -> String {
    let full = sha256(token.as_bytes());
    b64url(&full[..16])
}

/// Apple's stable per-team subject, shaped `NNNNNN.<32 hex>.NNNN`.
pub(crate) fn subject(team: &str, user: &str) -> String {
    let h = sha256(format!("sub:{team}:{user}").as_bytes());
    let a = u32::from_be_bytes([0, h[0], h[1], h[2]]) % 1_000_000;
    let b = u32::from(u16::from_be_bytes([h[3], h[4]])) % 10_000;
    format!("{a:06}.{}.{b:04}", hex(&h[5..21]))
}

/// A stable private relay address per user and team.
pub(crate) fn relay_email(team: &str, user: &str) -> String {
    let h = sha256(format!("relay:{team}:{user}").as_bytes());
    format!("{}@privaterelay.appleid.com", &hex(&h)[..10])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let sub = subject("DEF123GHIJ", "alice");
        assert_eq!(sub, subject("DEF123GHIJ", "alice"));
        assert_ne!(sub, subject("OTHER12345", "alice"));
        let parts: Vec<&str> = sub.split('.').collect();
        assert_eq!((parts[0].len(), parts[1].len(), parts[2].len()), (6, 32, 4));
        let code = apple_token('c');
        assert!(code.starts_with('c') && code.contains(".0."));
        assert_eq!(code.rsplit('.').next().unwrap().len(), 22);
        assert!(relay_email("T", "u").ends_with("@privaterelay.appleid.com"));
        assert_eq!(random_alnum(10).len(), 10);
    }

    /// OIDC Core 3.3.2.11 example shape: 16 bytes -> 22 characters.
    #[test]
    fn half_hash_is_22_chars() {
        assert_eq!(half_hash("abc").len(), 22);
    }
}
