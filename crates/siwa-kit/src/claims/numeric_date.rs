//! RFC 7519's NumericDate: a JSON number of seconds since the epoch, which
//! may have a fraction or an exponent (`1700000000.5`, `1.7e9`).
//!
//! The number is read exactly from its decimal text (never through `f64`,
//! whose 53 bits cannot tell `1700000000.0000001` from `1700000000`) and
//! held as the whole second at or after it: its ceiling. Every time check
//! compares such a second with a whole-second `now` plus a whole-second
//! leeway `n`, and for any whole `n`, `x > n` exactly when `ceil(x) > n`,
//! and `n >= x` exactly when `n >= ceil(x)`. So each verdict is the one
//! the exact value gets: `exp` 1700000000.5 is not yet past at 1700000000
//! and past at 1700000001; an `iat` half a second beyond `now + leeway` is
//! in the future.

/// Why a JSON number is not a time this crate holds.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum OutOfRange {
    /// Below zero: before 1970.
    Negative,
    /// Its ceiling is past `u64::MAX` seconds.
    TooLarge,
    /// Not the text of a JSON number (the strict checker lets none through).
    NotANumber,
}

/// The whole second at or after the JSON number `text` (RFC 8259 grammar),
/// computed exactly. Any length of digits or exponent is fine: the work is
/// one pass over the text, and nothing is allocated.
pub(crate) fn ceil_secs(text: &str) -> Result<u64, OutOfRange> {
    let bytes = text.as_bytes();
    let (negative, unsigned) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    let (mantissa, exponent) = match unsigned.iter().position(|&b| b == b'e' || b == b'E') {
        Some(at) => (&unsigned[..at], exponent(&unsigned[at + 1..])?),
        None => (unsigned, 0),
    };
    let (int, frac) = match mantissa.iter().position(|&b| b == b'.') {
        Some(at) if at + 1 < mantissa.len() => (&mantissa[..at], &mantissa[at + 1..]),
        Some(_) => return Err(OutOfRange::NotANumber),
        None => (mantissa, &[][..]),
    };
    if int.is_empty() || !int.iter().chain(frac).all(u8::is_ascii_digit) {
        return Err(OutOfRange::NotANumber);
    }
    // The value is the digits of `int` then `frac`, with the decimal point
    // `point` digits from their start (past their end when the exponent
    // asks for zeros; before their start for a leading run of zeros).
    let digits = || int.iter().chain(frac).map(|&d| u64::from(d - b'0'));
    let count = int.len() + frac.len();
    let point = i64::try_from(int.len())
        .unwrap_or(i64::MAX)
        .saturating_add(exponent);
    if digits().all(|d| d == 0) {
        return Ok(0);
    }
    if negative {
        return Err(OutOfRange::Negative);
    }
    let mut secs: u64 = 0;
    let mut fraction = false;
    for (at, digit) in digits().enumerate() {
        if i64::try_from(at).is_ok_and(|at| at < point) {
            secs = secs
                .checked_mul(10)
                .and_then(|s| s.checked_add(digit))
                .ok_or(OutOfRange::TooLarge)?;
        } else if digit != 0 {
            fraction = true;
            break;
        }
    }
    // Zeros the exponent puts after the last digit. Then every digit is
    // whole and one of them is not zero, so secs >= 1: more than 19 zeros
    // overflow, and the loop stays short whatever the exponent.
    let zeros = point.saturating_sub(i64::try_from(count).unwrap_or(i64::MAX));
    if zeros > 19 {
        return Err(OutOfRange::TooLarge);
    }
    for _ in 0..zeros.max(0) {
        secs = secs.checked_mul(10).ok_or(OutOfRange::TooLarge)?;
    }
    if fraction {
        secs = secs.checked_add(1).ok_or(OutOfRange::TooLarge)?;
    }
    Ok(secs)
}

/// The exponent after `e`, saturating far beyond any that matters.
fn exponent(text: &[u8]) -> Result<i64, OutOfRange> {
    let (sign, digits) = match text.split_first() {
        Some((b'-', rest)) => (-1, rest),
        Some((b'+', rest)) => (1, rest),
        _ => (1, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(OutOfRange::NotANumber);
    }
    let magnitude = digits.iter().fold(0i64, |acc, &d| {
        acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    Ok(sign * magnitude)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_are_themselves_however_written() {
        for (text, secs) in [
            ("0", 0),
            ("1700000000", 1_700_000_000),
            ("1700000000.0", 1_700_000_000),
            ("1700000000.000000000000000000000", 1_700_000_000),
            ("1.7e9", 1_700_000_000),
            ("17E8", 1_700_000_000),
            ("1.7E+9", 1_700_000_000),
            ("17000000000e-1", 1_700_000_000),
            ("0.0000000017e18", 1_700_000_000),
            ("18446744073709551615", u64::MAX),
            ("1.8446744073709551615e19", u64::MAX),
        ] {
            assert_eq!(ceil_secs(text), Ok(secs), "{text}");
        }
    }

    #[test]
    fn a_fraction_rounds_up_to_the_next_second() {
        for (text, secs) in [
            ("1700000000.5", 1_700_000_001),
            ("1700000000.0000001", 1_700_000_001),
            // Beyond f64: as a double this is 1700000000 exactly.
            ("1700000000.000000000000000000001", 1_700_000_001),
            ("1700000000.9", 1_700_000_001),
            ("1.7000000005e9", 1_700_000_001),
            ("17000000005e-1", 1_700_000_001),
            ("0.5", 1),
            ("1e-400", 1),
            ("0.0000001e-99999999999999999999999", 1),
            ("18446744073709551614.5", u64::MAX),
        ] {
            assert_eq!(ceil_secs(text), Ok(secs), "{text}");
        }
    }

    #[test]
    fn zero_with_a_sign_is_zero_and_below_zero_is_refused() {
        for text in ["-0", "-0.0", "0e-5", "-0e400", "0.000"] {
            assert_eq!(ceil_secs(text), Ok(0), "{text}");
        }
        for text in [
            "-1",
            "-0.5",
            "-1700000000",
            "-1e-400",
            "-18446744073709551616",
        ] {
            assert_eq!(ceil_secs(text), Err(OutOfRange::Negative), "{text}");
        }
    }

    #[test]
    fn beyond_u64_is_refused_without_overflow() {
        for text in [
            "18446744073709551616",
            "18446744073709551615.5",
            "1.8446744073709551616e19",
            "1e20",
            "1e400",
            "1e99999999999999999999999999",
            "123456789012345678901234567890",
        ] {
            assert_eq!(ceil_secs(text), Err(OutOfRange::TooLarge), "{text}");
        }
        let long = format!("1{}", "0".repeat(16 * 1024));
        assert_eq!(ceil_secs(&long), Err(OutOfRange::TooLarge));
        let long_fraction = format!("1700000000.{}1", "0".repeat(16 * 1024));
        assert_eq!(ceil_secs(&long_fraction), Ok(1_700_000_001));
    }

    #[test]
    fn what_is_not_a_json_number_is_said_so() {
        for text in [
            "", "-", ".5", "1.", "1e", "1e+", "e5", "1.2.3", "NaN", "0x10", " 1", "1_0",
        ] {
            assert_eq!(ceil_secs(text), Err(OutOfRange::NotANumber), "{text:?}");
        }
    }
}
