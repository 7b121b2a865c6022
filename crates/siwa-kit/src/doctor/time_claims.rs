//! `iat` and `exp`: JSON numbers of seconds, in the right order and window.

use serde_json::{Map, Value};

use super::{Check, CheckId};
use crate::clock::UnixTime;
use crate::secret::MAX_TTL_SECS;

/// How far ahead of our clock an `iat` may be before Apple is likely to refuse it.
pub(super) const FUTURE_IAT_TOLERANCE_SECS: u64 = 60;

/// Above this a time is surely in milliseconds (1e11 s is the year 5138).
const MILLISECONDS_THRESHOLD: u64 = 100_000_000_000;

pub(super) fn check_iat(claims: &Map<String, Value>, now: UnixTime) -> Check {
    const ID: CheckId = CheckId::PayloadIat;
    let iat = match read_time(claims, "iat", ID) {
        Ok(iat) => iat,
        Err(check) => return check,
    };
    let iat_t = UnixTime::from_secs(iat);
    if iat > now.secs().saturating_add(FUTURE_IAT_TOLERANCE_SECS) {
        return Check::fail(
            ID,
            format!(
                "iat {} is {} in the future (now is {})",
                iat_t,
                span(iat - now.secs()),
                now.iso8601()
            ),
            "Apple refuses an iat its clock sees in the future: fix the server clock (NTP), and set iat a minute in the past",
        );
    }
    if iat > now.secs() {
        return Check::warn(
            ID,
            format!(
                "iat {} is {} ahead of this clock",
                iat_t,
                span(iat - now.secs())
            ),
            "clocks differ: set iat a minute in the past so Apple never sees it in the future",
        );
    }
    Check::pass(
        ID,
        format!("iat is {iat_t}, {} ago", span(now.secs() - iat)),
    )
}

pub(super) fn check_exp(claims: &Map<String, Value>, now: UnixTime) -> Check {
    const ID: CheckId = CheckId::PayloadExp;
    let exp = match read_time(claims, "exp", ID) {
        Ok(exp) => exp,
        Err(check) => return check,
    };
    let exp_t = UnixTime::from_secs(exp);
    let iat = read_time(claims, "iat", CheckId::PayloadIat).ok();
    if let Some(iat) = iat {
        if exp <= iat {
            return Check::fail(
                ID,
                format!("exp {exp_t} is not after iat {}", UnixTime::from_secs(iat)),
                "set exp to iat plus the lifetime you want (at most 15777000 s)",
            );
        }
        if exp - iat > MAX_TTL_SECS {
            return Check::fail(
                ID,
                format!(
                    "the secret lives {} s ({}) from iat to exp, past Apple's limit of {MAX_TTL_SECS} s (6 months)",
                    exp - iat,
                    span(exp - iat)
                ),
                "set exp at most 15777000 s after iat (180 days is 15552000 s)",
            );
        }
    }
    if exp <= now.secs() {
        return Check::fail(
            ID,
            format!(
                "the secret expired at {exp_t}, {} ago",
                span(now.secs() - exp)
            ),
            "make a new secret (`siwa secret`) and renew it before it expires",
        );
    }
    if exp - now.secs() > MAX_TTL_SECS {
        return Check::fail(
            ID,
            format!(
                "exp {exp_t} is {} from now, past Apple's limit of {MAX_TTL_SECS} s (6 months)",
                span(exp - now.secs())
            ),
            "set exp at most 15777000 s after now",
        );
    }
    Check::pass(ID, format!("exp is {exp_t}, in {}", span(exp - now.secs())))
}

/// Reads a NumericDate claim, naming the classic mistakes.
fn read_time(claims: &Map<String, Value>, name: &str, id: CheckId) -> Result<u64, Check> {
    let hint = format!("set \"{name}\" to a JSON number of whole seconds since 1970 (not milliseconds, not a string)");
    let value = match claims.get(name) {
        None => return Err(Check::fail(id, format!("the payload has no {name}"), hint)),
        Some(Value::Number(n)) => n,
        Some(Value::String(s)) => {
            let what = if s.trim().parse::<f64>().is_ok() {
                "a number sent as a string"
            } else {
                "a string"
            };
            return Err(Check::fail(id, format!("{name} is {s:?}, {what}"), hint));
        }
        Some(other) => {
            return Err(Check::fail(
                id,
                format!("{name} is {other}, not a number"),
                hint,
            ))
        }
    };
    let secs = match (value.as_u64(), value.as_f64()) {
        (Some(secs), _) => secs,
        (None, Some(f)) if f < 0.0 => {
            return Err(Check::fail(
                id,
                format!("{name} is negative ({value})"),
                hint,
            ))
        }
        (None, Some(f)) => {
            let what = if f.fract() == 0.0 {
                "written as a decimal"
            } else {
                "with a fractional part"
            };
            return Err(Check::fail(
                id,
                format!("{name} is {value}, {what}"),
                format!("{hint}; write it as an integer"),
            ));
        }
        _ => {
            return Err(Check::fail(
                id,
                format!("{name} is {value}, not a usable number"),
                hint,
            ))
        }
    };
    if secs >= MILLISECONDS_THRESHOLD {
        return Err(Check::fail(
            id,
            format!(
                "{name} is {secs}: milliseconds, not seconds ({} if read as ms)",
                UnixTime::from_secs(secs / 1000).iso8601()
            ),
            format!("divide by 1000: \"{name}\" is in seconds (e.g. Java's System.currentTimeMillis() / 1000)"),
        ));
    }
    Ok(secs)
}

/// A duration in the largest unit that keeps it readable.
fn span(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7_199 => format!("{} min", secs / 60),
        7_200..=172_799 => format!("{} h", secs / 3_600),
        _ => format!("{} days", secs / 86_400),
    }
}
