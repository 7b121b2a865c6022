//! Strict unpadded base64url decoding (RFC 4648 §5, RFC 7515 §2): only the
//! URL-safe alphabet, no `=`, no whitespace, a length that base64 can have,
//! and zero unused bits in the last character, so every byte string has
//! exactly one accepted encoding.
//!
//! Table-driven and allocation-free: tokens are decoded on every request, and
//! the general-purpose decoder with its separate pre-scans cost more than the
//! rest of the verification put together (RSA aside).

/// Marks a byte outside the alphabet.
const INVALID: u8 = 0xff;

/// Value of each byte in the base64url alphabet, [`INVALID`] elsewhere.
static DECODE: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

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

/// Decodes `text` into the start of `out` (at least [`decoded_len`] bytes),
/// returning the length, or why `text` is not canonical unpadded base64url.
pub(crate) fn decode_into(text: &str, out: &mut [u8]) -> Result<usize, &'static str> {
    let Some(len) = decoded_len(text) else {
        return Err(reason(text));
    };
    let Some(out) = out.get_mut(..len) else {
        return Err("it is longer than any value it may hold");
    };
    let input = text.as_bytes();
    // Eight characters (48 bits) at a time, then at most one group of four,
    // then the tail.
    let (octets, input) = input.split_at(input.len() / 8 * 8);
    let (sixes, out) = out.split_at_mut(octets.len() / 8 * 6);
    for (octet, six) in octets.chunks_exact(8).zip(sixes.chunks_exact_mut(6)) {
        let v = |i: usize| DECODE[usize::from(octet[i])];
        let (a, b, c, d, e, f, g, h) = (v(0), v(1), v(2), v(3), v(4), v(5), v(6), v(7));
        let seen = a | b | c | d | e | f | g | h;
        let bits = u64::from(a) << 42
            | u64::from(b) << 36
            | u64::from(c) << 30
            | u64::from(d) << 24
            | u64::from(e) << 18
            | u64::from(f) << 12
            | u64::from(g) << 6
            | u64::from(h);
        if seen & 0xc0 != 0 {
            return Err(reason(text));
        }
        six.copy_from_slice(&bits.to_be_bytes()[2..]);
    }
    let (chunks, tail) = input.split_at(input.len() / 4 * 4);
    let (whole, rest) = out.split_at_mut(chunks.len() / 4 * 3);
    for (quad, triple) in chunks.chunks_exact(4).zip(whole.chunks_exact_mut(3)) {
        let (a, b, c, d) = (
            DECODE[usize::from(quad[0])],
            DECODE[usize::from(quad[1])],
            DECODE[usize::from(quad[2])],
            DECODE[usize::from(quad[3])],
        );
        if (a | b | c | d) & 0xc0 != 0 {
            return Err(reason(text));
        }
        let n = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d);
        triple[0] = (n >> 16) as u8;
        triple[1] = (n >> 8) as u8;
        triple[2] = n as u8;
    }
    match *tail {
        [] => {}
        [x, y] => {
            let (a, b) = (DECODE[usize::from(x)], DECODE[usize::from(y)]);
            if (a | b) & 0xc0 != 0 {
                return Err(reason(text));
            }
            if b & 0x0f != 0 {
                return Err(STRAY_BITS);
            }
            rest[0] = a << 2 | b >> 4;
        }
        [x, y, z] => {
            let (a, b, c) = (
                DECODE[usize::from(x)],
                DECODE[usize::from(y)],
                DECODE[usize::from(z)],
            );
            if (a | b | c) & 0xc0 != 0 {
                return Err(reason(text));
            }
            if c & 0x03 != 0 {
                return Err(STRAY_BITS);
            }
            let n = u32::from(a) << 12 | u32::from(b) << 6 | u32::from(c);
            rest[0] = (n >> 10) as u8;
            rest[1] = (n >> 2) as u8;
        }
        // A length of 4k+1 was refused above.
        _ => return Err(reason(text)),
    }
    Ok(len)
}

const STRAY_BITS: &str = "its last character has stray bits";

/// Why `text` failed, worked out only when it has.
fn reason(text: &str) -> &'static str {
    if text.contains('=') {
        "it has '=' padding"
    } else if text.contains(['+', '/']) {
        "it uses '+' or '/' (standard base64) instead of '-' and '_'"
    } else if text.bytes().any(|b| DECODE[usize::from(b)] == INVALID) {
        "it holds characters outside the base64url alphabet"
    } else {
        "its length is impossible for base64"
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::*;

    fn decode(text: &str) -> Result<Vec<u8>, &'static str> {
        let mut out = vec![0u8; decoded_len(text).unwrap_or(0)];
        decode_into(text, &mut out).map(|len| out[..len].to_vec())
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
    fn refuses_a_short_buffer() {
        let mut out = [0u8; 2];
        assert!(decode_into("QUJD", &mut out).is_err());
    }
}
