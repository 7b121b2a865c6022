//! Pieces of RFC 8259's grammar that the checker and the fast path share:
//! where a number ends, how far a string runs without escapes, where an
//! escape sequence ends, the first member name met twice, and unescaping a
//! string already accepted.

/// Where the number starting at `at` ends (RFC 8259: `-`, no leading zero,
/// an optional fraction and exponent), or where and what was expected.
pub(super) fn number_end(bytes: &[u8], mut at: usize) -> Result<usize, (usize, &'static str)> {
    let digit = |at: usize| matches!(bytes.get(at), Some(b'0'..=b'9'));
    let digits = |at: usize| at + bytes.get(at..).map_or(0, digit_run);
    let required_digits = |at: usize| {
        if digit(at) {
            Ok(digits(at))
        } else {
            Err((at, "a digit"))
        }
    };
    if bytes.get(at) == Some(&b'-') {
        at += 1;
    }
    match bytes.get(at) {
        Some(b'0') if digit(at + 1) => return Err((at + 1, "no leading zero in a number")),
        Some(b'0') => at += 1,
        Some(b'1'..=b'9') => at = digits(at),
        _ => return Err((at, "a digit")),
    }
    if bytes.get(at) == Some(&b'.') {
        at = required_digits(at + 1)?;
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        at = required_digits(at)?;
    }
    Ok(at)
}

/// The first name met twice among `count` names without escapes, `name(i)`
/// giving the i-th as written.
pub(super) fn first_plain_duplicate<'b>(
    count: usize,
    name: impl Fn(usize) -> &'b [u8],
) -> Option<&'b [u8]> {
    if count <= 64 {
        // A 64-bit filter on (length, first byte, last byte): names are
        // compared only when their bit was already set.
        let mut seen = 0u64;
        for i in 0..count {
            let a = name(i);
            let bit = name_filter_bit(a.len(), a.first(), a.last());
            if seen & bit != 0 && (0..i).any(|j| name(j) == a) {
                return Some(a);
            }
            seen |= bit;
        }
        return None;
    }
    let mut names: Vec<&[u8]> = (0..count).map(&name).collect();
    names.sort_unstable();
    names
        .windows(2)
        .find(|pair| pair[0] == pair[1])
        .map(|pair| pair[0])
}

/// A name's bit in a 64-bit filter of names, from its length and its first
/// and last bytes: equal names share a bit, so names whose bits all differ
/// are all different.
#[inline(always)]
pub(super) fn name_filter_bit(len: usize, first: Option<&u8>, last: Option<&u8>) -> u64 {
    let byte = |b: Option<&u8>| usize::from(b.copied().unwrap_or(0));
    1u64 << ((len * 7 + byte(first) + byte(last) * 3) & 63)
}

/// How many ASCII digits `bytes` starts with: eight at a time, since the
/// times in a token's payload are ten digits each.
pub(super) fn digit_run(bytes: &[u8]) -> usize {
    run_length(bytes, non_digits, |b| !b.is_ascii_digit())
}

/// Flags (bit 7 of a byte) the bytes of `word` that are no ASCII digit; the
/// lowest flag is exact, and a word of digits has none. Each byte minus '0'
/// (as xor, which agrees on digits) is 10 or more for a non-digit, and
/// adding 118 then sets its top bit; it carries out of a byte only when that
/// is at least 138, itself flagged.
pub(super) fn non_digits(word: u64) -> u64 {
    let x = word ^ (ONES * u64::from(b'0'));
    (x.wrapping_add(ONES * 118) | x) & HIGHS
}

/// How many bytes of `bytes` come before the first that `stops`, found a
/// word at a time by `flags`, which flags (bit 7 of a byte) the lowest such
/// byte of a word exactly (bytes above it may be flagged or not); the tail
/// shorter than a word byte by byte.
#[inline(always)]
fn run_length(bytes: &[u8], flags: impl Fn(u64) -> u64, stops: impl Fn(u8) -> bool) -> usize {
    let mut words = bytes.chunks_exact(8);
    let mut run = 0;
    for word in &mut words {
        let Ok(word) = <[u8; 8]>::try_from(word) else {
            break;
        };
        let flagged = flags(u64::from_le_bytes(word));
        if flagged != 0 {
            return run + (flagged.trailing_zeros() / 8) as usize;
        }
        run += 8;
    }
    let rest = words.remainder();
    run + rest.iter().position(|&b| stops(b)).unwrap_or(rest.len())
}

/// A byte of ones, and a byte's top bit, in each of a word's eight bytes.
const ONES: u64 = u64::from_le_bytes([1; 8]);
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// Bytes that stand for themselves inside a string: all but `"`, `\\` and
/// the control characters.
pub(super) static PLAIN: [bool; 256] = {
    let mut table = [true; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = false;
        i += 1;
    }
    table[b'"' as usize] = false;
    table[b'\\' as usize] = false;
    table
};

/// How many bytes at the start of `bytes` are [`PLAIN`]: eight at a time,
/// since strings are most of a token's payload.
pub(super) fn plain_run(bytes: &[u8]) -> usize {
    // Flags (bit 7 of a byte) the bytes of `x` below `n` (at most 0x80); the
    // lowest flag is exact (a borrow only runs upward from a flagged byte).
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGHS;
    // Flipping bit 1 swaps `"` (0x22) with the space (0x20) and keeps the
    // control characters below 0x20: one test finds them all.
    let flags = |x: u64| below(x ^ (ONES * 0x02), 0x21) | below(x ^ (ONES * u64::from(b'\\')), 1);
    run_length(bytes, flags, |b| !PLAIN[usize::from(b)])
}

/// Where the escape sequence whose backslash is at `at` ends, if it is one
/// the checker accepts (`\" \\ \/ \b \f \n \r \t`, `\uXXXX` other than a
/// surrogate, or a high surrogate escaped right before a low one); `None`
/// for anything else, which the fast path leaves to the checker.
pub(super) fn escape_end(bytes: &[u8], at: usize) -> Option<usize> {
    match bytes.get(at + 1)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(at + 2),
        b'u' => match hex4(bytes, at + 2)? {
            0xD800..=0xDBFF => {
                if bytes.get(at + 6..at + 8)? != b"\\u" {
                    return None;
                }
                (0xDC00..=0xDFFF)
                    .contains(&hex4(bytes, at + 8)?)
                    .then_some(at + 12)
            }
            0xDC00..=0xDFFF => None,
            _ => Some(at + 6),
        },
        _ => None,
    }
}

/// The four hex digits at `at`, as RFC 8259 reads them (either case).
fn hex4(bytes: &[u8], at: usize) -> Option<u16> {
    bytes.get(at..at + 4)?.iter().try_fold(0u16, |unit, &d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return None,
        };
        Some(unit << 4 | u16::from(v))
    })
}

/// The inside of a string the checker has accepted, unescaped, as text.
/// Replaces serde_json here: one allocation of the right size, no growing,
/// and no second UTF-8 check (the runs between escapes are text already, and
/// each escape is a whole character: the checker refused lone surrogates).
pub(crate) fn unescape_str(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    // A backslash is ASCII, so the text splits there on a character boundary.
    while let Some((run, escape)) =
        backslash(rest.as_bytes()).and_then(|at| rest.split_at_checked(at))
    {
        out.push_str(run);
        let (ch, len) = escaped_char(escape.as_bytes());
        out.push(ch);
        rest = escape.get(len..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

/// Unescapes the inside of a string the scanner has already accepted: the
/// runs between escapes copied whole, each escape as its character.
pub(super) fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = backslash(rest) {
        let (run, escape) = rest.split_at(at);
        out.extend_from_slice(run);
        let (ch, len) = escaped_char(escape);
        out.extend_from_slice(ch.encode_utf8(&mut [0u8; 4]).as_bytes());
        rest = escape.get(len..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
    out
}

/// Where the first backslash in `bytes` is, eight bytes at a time: the runs
/// between escapes are short, too short for a vector search to pay off.
fn backslash(bytes: &[u8]) -> Option<usize> {
    // The lowest zero byte of `x` is flagged exactly (see `plain_run`).
    let flags = |word: u64| {
        let x = word ^ (ONES * u64::from(b'\\'));
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    let at = run_length(bytes, flags, |b| b == b'\\');
    (at < bytes.len()).then_some(at)
}

/// The character of the escape sequence at the start of `escape` (on its
/// backslash; one the checker accepted), and the sequence's length.
fn escaped_char(escape: &[u8]) -> (char, usize) {
    match escape.get(1) {
        Some(b'b') => ('\u{8}', 2),
        Some(b'f') => ('\u{c}', 2),
        Some(b'n') => ('\n', 2),
        Some(b'r') => ('\r', 2),
        Some(b't') => ('\t', 2),
        Some(b'u') => {
            let high = hex4(escape, 2).unwrap_or(0);
            let (scalar, len) = if (0xD800..=0xDBFF).contains(&high) {
                let low = hex4(escape, 8).unwrap_or(0xDC00);
                let pair = 0x10000 + ((u32::from(high) - 0xD800) << 10);
                (pair + u32::from(low).saturating_sub(0xDC00), 12)
            } else {
                (u32::from(high), 6)
            };
            (
                char::from_u32(scalar).unwrap_or(char::REPLACEMENT_CHARACTER),
                len,
            )
        }
        // `\"`, `\\`, `\/`: the byte itself (ASCII).
        Some(&other) => (char::from(other), 2),
        // A lone backslash at the end: not in an accepted string.
        None => ('\\', 1),
    }
}
