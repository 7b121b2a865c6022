//! A strict JSON (RFC 8259) checker for JWS headers and payloads.
//!
//! serde_json alone is too lenient for tokens: it keeps the last of two members
//! with the same name (so two parsers can read two different claim sets out of
//! one signed payload) and allows 128 levels of nesting. This pass runs first,
//! without recursion and without building values, and rejects:
//! - bytes that are not UTF-8 (std's check: no overlongs, no surrogates), and
//!   `\u` escapes that are lone surrogates;
//! - anything outside the RFC 8259 grammar (trailing commas, comments, `NaN`,
//!   leading zeros, raw control characters in strings, trailing data);
//! - nesting deeper than [`MAX_DEPTH`];
//! - an object that names a member twice (compared after unescaping);
//! - a text whose top level is not an object.
//!
//! ## Files
//! - `checker.rs`: the checker, RFC 8259's grammar for any text, every
//!   problem named ([`Problem`]); the judge of what is strict JSON.
//! - `members.rs`: the member-span index ([`Members`]): where each top-level
//!   member's name and value sit in the text, read by the claims.
//! - `flat.rs`: the fast path, one pass over a flat object (Apple's headers
//!   and payloads: no nesting, no escapes), tried before the checker.
//! - `grammar.rs`: what the two share (numbers, plain string runs, duplicate
//!   names, unescaping).
//! - `wire.rs`: a member's value typed as JSON typed it ([`Wire`]), for the
//!   readers of members: the header rules and the claims.
//!
//! ## The rule that binds the fast path to the checker
//! **The fast path accepts exactly what the checker accepts, with the same
//! spans**: a text the fast path takes, the checker accepts too, with the same
//! [`Members`]; every other text (errors included) is left to the checker.
//! So the verdict and the spans never depend on which of the two read a text.
//! `fast_path_agrees` states the rule as code. It is held to it by the unit
//! tests `flat_objects_read_like_the_general_scanner` (every byte at every
//! place of a flat object) and `flat_objects_agree_on_the_fuzz_corpus` (the
//! committed corpus of the `json` fuzz target), in `strict_json/tests.rs`, and
//! by the `json` fuzz target (`fuzz/fuzz_targets/json.rs`), which asserts
//! `fast_path_agrees` on every input besides comparing the verdict with an
//! independent reference checker.

mod checker;
mod flat;
mod grammar;
mod members;
mod wire;

pub(crate) use checker::Problem;
pub use checker::MAX_DEPTH;
pub(crate) use members::{Member, Members};
pub(crate) use wire::{cut, uint, Item, Wire};

/// Checks `bytes` and returns them as text.
pub(crate) fn check(bytes: &[u8]) -> Result<&str, Problem> {
    check_object(bytes, &mut Members::default())
}

/// Checks `bytes` and returns them as text, filling `members` with the spans
/// of the top-level object's members, so that reading them needs no second
/// parser.
pub(crate) fn check_object<'b>(bytes: &'b [u8], members: &mut Members) -> Result<&'b str, Problem> {
    let text = std::str::from_utf8(bytes).map_err(|e| Problem::Utf8 {
        offset: e.valid_up_to(),
    })?;
    check_text(text, members)?;
    Ok(text)
}

/// [`check_object`] for bytes already known to be UTF-8 (so they are not
/// validated twice).
pub(crate) fn check_text(text: &str, members: &mut Members) -> Result<(), Problem> {
    let bytes = text.as_bytes();
    // Member offsets are kept in 31 bits (see `Member`).
    if bytes.len() >= 1 << 31 {
        return Err(Problem::Syntax {
            offset: 0,
            expected: "a text shorter than 2 GiB",
        });
    }
    members.clear();
    if flat::flat_object(bytes, members).is_some() {
        return Ok(());
    }
    checker::scan(bytes, members)
}

/// The rule above, for one text: `Ok(true)` when the fast path takes it and
/// the checker accepts it with the same spans, `Ok(false)` when the fast path
/// leaves it to the checker, and `Err` saying how the two disagree.
#[cfg(any(test, fuzzing))]
pub(crate) fn fast_path_agrees(bytes: &[u8]) -> Result<bool, String> {
    let (mut fast, mut checked) = (Members::default(), Members::default());
    if flat::flat_object(bytes, &mut fast).is_none() {
        return Ok(false);
    }
    let text = String::from_utf8_lossy(bytes);
    match checker::scan(bytes, &mut checked) {
        Err(problem) => Err(format!(
            "the fast path accepts what the checker refuses ({problem}): {text}"
        )),
        Ok(()) if !fast.iter().eq(checked.iter()) => Err(format!(
            "the fast path reads other spans than the checker: {:?} vs {:?} in {text}",
            fast.iter().collect::<Vec<_>>(),
            checked.iter().collect::<Vec<_>>()
        )),
        Ok(()) => Ok(true),
    }
}

#[cfg(test)]
mod tests;
