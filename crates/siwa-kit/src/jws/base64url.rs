//! Strict unpadded base64url decoding (RFC 4648 §5, RFC 7515 §2): only the
//! URL-safe alphabet, no `=`, no whitespace, a length that base64 can have,
//! and zero unused bits in the last character, so every byte string has
//! exactly one accepted encoding.
//!
//! Tokens are decoded on every request, and decoding is most of what a
//! verification does besides the RSA check: `base64-simd` decodes (and
//! refuses the same non-canonical forms) with the CPU's vector instructions,
//! into a caller's buffer. Why a text was refused is worked out afterwards.

use base64_simd::{Out, URL_SAFE_NO_PAD};

/// Bytes that `text` decodes to, or `None` when no base64 has its length.
pub(crate) fn decoded_len(text: &str) -> Option<usize> {
    let len = text.len();
    match len % 4 {
        0 => Some(len / 4 * 3),
        2 => Some(len / 4 * 3 + 1),
        3 => Some(len / 4 * 3 + 2),
        _ => None,
    }
}

/// Decodes `text` into the start of `out` (at least [`decoded_len`] bytes,
/// initialised or not), returning the decoded bytes, or why `text` is not
/// canonical unpadded base64url.
pub(crate) fn decode_into<'b>(text: &str, out: Out<'b, [u8]>) -> Result<&'b [u8], &'static str> {
    let Some(len) = decoded_len(text) else {
        return Err(reason(text));
    };
    if out.len() < len {
        return Err("it is longer than any value it may hold");
    }
    match URL_SAFE_NO_PAD.decode(text.as_bytes(), out) {
        Ok(decoded) => Ok(decoded),
        Err(_) => Err(reason(text)),
    }
}

/// Decodes `text` into a new vector (not zeroed first), or says why
/// `text` is not canonical unpadded base64url.
pub(crate) fn decode(text: &str) -> Result<Vec<u8>, &'static str> {
    URL_SAFE_NO_PAD
        .decode_to_vec(text.as_bytes())
        .map_err(|_| reason(text))
}

const STRAY_BITS: &str = "its last character has stray bits";

/// Why `text` failed, worked out only when it has.
fn reason(text: &str) -> &'static str {
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if text.contains('=') {
        "it has '=' padding"
    } else if text.contains(['+', '/']) {
        "it uses '+' or '/' (standard base64) instead of '-' and '_'"
    } else if !text.bytes().all(alphabet) {
        "it holds characters outside the base64url alphabet"
    } else if decoded_len(text).is_none() {
        "its length is impossible for base64"
    } else {
        STRAY_BITS
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::*;

    /// Both decoders, which must agree.
    fn decode(text: &str) -> Result<Vec<u8>, &'static str> {
        let mut out = vec![0u8; decoded_len(text).unwrap_or(0)];
        let into = decode_into(text, Out::from_slice(&mut out)).map(<[u8]>::to_vec);
        assert_eq!(into, super::decode(text), "{text}");
        into
    }

    #[test]
    fn round_trips_every_length_against_the_base64_crate() {
        let data: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        for len in 0..data.len() {
            let text = URL_SAFE_NO_PAD.encode(&data[..len]);
            assert_eq!(decode(&text).unwrap(), &data[..len], "{len}");
        }
    }

    #[test]
    fn refuses_what_is_not_canonical() {
        assert_eq!(decode("aGVhZA==").unwrap_err(), "it has '=' padding");
        assert!(decode("a+b/").unwrap_err().contains("standard base64"));
        assert_eq!(decode("aGVhZB").unwrap_err(), STRAY_BITS);
        assert_eq!(decode("aGVhZGF").unwrap_err(), STRAY_BITS);
        assert_eq!(
            decode("a").unwrap_err(),
            "its length is impossible for base64"
        );
        assert_eq!(
            decode("abcde").unwrap_err(),
            "its length is impossible for base64"
        );
        assert!(decode("a*bc").unwrap_err().contains("outside"));
        assert!(decode("ab c").unwrap_err().contains("outside"));
        assert!(decode("abc\u{e9}").unwrap_err().contains("outside"));
        assert_eq!(decode("").unwrap(), b"");
    }

    #[test]
    fn agrees_with_the_base64_crate_on_stray_bits() {
        // Every two- and three-character tail: accepted exactly when the
        // strict general-purpose decoder accepts it.
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for &x in alphabet {
            for &y in alphabet {
                let two = format!("QUJD{}{}", x as char, y as char);
                assert_eq!(
                    decode(&two).is_ok(),
                    URL_SAFE_NO_PAD.decode(&two).is_ok(),
                    "{two}"
                );
                let three = format!("QUJD{}{}A", x as char, y as char);
                assert_eq!(
                    decode(&three).is_ok(),
                    URL_SAFE_NO_PAD.decode(&three).is_ok(),
                    "{three}"
                );
            }
        }
    }

    #[test]
    fn agrees_with_the_base64_crate_on_every_byte_at_every_place() {
        // Long enough for the vector paths, and each length modulo 4 that
        // base64 allows.
        let data: Vec<u8> = (0..=255u8).cycle().take(100).collect();
        for len in [97, 98, 99] {
            let text = URL_SAFE_NO_PAD.encode(&data[..len]);
            for place in [0, 1, 31, 32, 63, 64, 100, text.len() - 2, text.len() - 1] {
                for byte in 0..=255u8 {
                    let mut bytes = text.clone().into_bytes();
                    bytes[place] = byte;
                    let Ok(mutated) = String::from_utf8(bytes) else {
                        continue;
                    };
                    let ours = decode(&mutated);
                    let theirs = URL_SAFE_NO_PAD.decode(&mutated);
                    assert_eq!(ours.as_ref().ok(), theirs.as_ref().ok(), "{mutated}");
                }
            }
        }
    }

    #[test]
    fn refuses_a_short_buffer() {
        let mut out = [0u8; 2];
        assert!(decode_into("QUJD", Out::from_slice(&mut out)).is_err());
    }
}
