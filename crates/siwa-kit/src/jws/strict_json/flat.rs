//! The fast path: a flat object (Apple's headers and payloads) read in one
//! pass, without the checker's stack of containers. It must accept exactly
//! what the checker accepts, with the same spans (see the parent module).

use super::grammar::{escape_end, first_plain_duplicate, name_filter_bit, number_end, plain_run};
use super::members::{Member, Members};

/// The common case in one pass, without the general scanner's stack of
/// containers: a top-level object whose member names hold no escapes and
/// whose values are strings, numbers, `true`, `false` or `null` (Apple's
/// payloads and headers; a notification's `events` is a string of escaped
/// JSON). Fills `members` and returns
/// `Some` only for a text the general scanner accepts with the same
/// members; `None` (anything else, every error included) leaves the text to
/// the general scanner.
pub(super) fn flat_object(bytes: &[u8], members: &mut Members) -> Option<()> {
    // Where the whitespace at `at` ends: a byte above the space is never
    // whitespace, and Apple writes none, so that one test usually decides.
    let space = |mut at: usize| {
        if bytes.get(at).is_some_and(|&b| b > b' ') {
            return at;
        }
        while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            at += 1;
        }
        at
    };
    // The end of the string whose opening quote is at `at`, if it is plain.
    let plain_string = |at: usize| {
        let end = at + 1 + plain_run(bytes.get(at + 1..)?);
        (bytes.get(end) == Some(&b'"')).then_some(end + 1)
    };
    let word = |at: usize, word: &[u8]| {
        let end = at + word.len();
        (bytes.get(at..end) == Some(word)).then_some(end)
    };
    // The names' filter bits (see `first_plain_duplicate`), set as the names
    // are read: the exact search for a duplicate runs only when two names
    // share a bit (always, past 64 names).
    let (mut seen, mut shared) = (0u64, false);
    let mut at = space(0);
    if bytes.get(at) != Some(&b'{') {
        return None;
    }
    at = space(at + 1);
    if bytes.get(at) == Some(&b'}') {
        at += 1;
    } else {
        loop {
            if bytes.get(at) != Some(&b'"') {
                return None;
            }
            let name_end = plain_string(at)?;
            let bit = name_filter_bit(
                name_end - at - 2,
                bytes.get(at + 1),
                bytes.get(name_end - 2),
            );
            shared |= seen & bit != 0;
            seen |= bit;
            let colon = space(name_end);
            if bytes.get(colon) != Some(&b':') {
                return None;
            }
            let value_start = space(colon + 1);
            let (value_end, value_escaped) = match bytes.get(value_start)? {
                b'"' => string_value(bytes, value_start)?,
                b'-' | b'0'..=b'9' => (number_end(bytes, value_start).ok()?, false),
                b't' => (word(value_start, b"true")?, false),
                b'f' => (word(value_start, b"false")?, false),
                b'n' => (word(value_start, b"null")?, false),
                _ => return None,
            };
            // (Every offset fits: `check_text` takes texts under 2 GiB.)
            members.push(Member::new(
                (at as u32 + 1, name_end as u32 - 1, false),
                (value_start as u32, value_end as u32, value_escaped),
            ));
            at = space(value_end);
            match bytes.get(at)? {
                b',' => at = space(at + 1),
                b'}' => {
                    at += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    if space(at) != bytes.len() {
        return None;
    }
    let name = |i: usize| members.get(i).map_or(&[][..], |m| m.name_bytes(bytes));
    if shared && first_plain_duplicate(members.len(), name).is_some() {
        return None;
    }
    Some(())
}

/// The end of the string value whose opening quote is at `at`, and whether
/// it holds escapes (each one the checker accepts). Inlined: it runs for
/// most members, and a call costs more than a short string's scan.
#[inline(always)]
fn string_value(bytes: &[u8], at: usize) -> Option<(usize, bool)> {
    let mut end = at + 1;
    let mut escaped = false;
    loop {
        end += plain_run(bytes.get(end..)?);
        match bytes.get(end)? {
            b'"' => return Some((end + 1, escaped)),
            b'\\' => {
                end = escape_end(bytes, end)?;
                escaped = true;
            }
            _ => return None,
        }
    }
}
