//! The preflight's `clock` check: this machine's clock against the `Date`
//! header of Apple's answer to the probe. A clock off by more than a minute
//! signs client secrets Apple refuses (an `iat` in the future) and judges
//! identity tokens expired or not yet valid.

use super::report::Finding;

pub(super) const ID: &str = "clock";
/// The most this machine's clock may differ from Apple's.
const MAX_SKEW_SECS: i64 = 60;
const SYNC_HINT: &str = "synchronize this machine's clock (NTP: chrony or systemd-timesyncd); a clock off by more than a minute makes Apple refuse client secrets and identity tokens look expired or not yet valid";

/// Judges Apple's `Date` header against `local_secs`, this machine's Unix
/// time when the answer came.
pub(super) fn check(date: Option<&str>, local_secs: u64) -> Finding {
    let Some(date) = date else {
        return Finding::skip(
            ID,
            "no answer from Apple with a Date header to compare with",
            "the apple.secret checks say why Apple did not answer",
        );
    };
    let Some(apple) = parse_http_date(date) else {
        return Finding::warn(
            ID,
            format!("Apple's Date header {date:?} is not an HTTP date"),
            "check apple_base_url: it should be https://appleid.apple.com (or the emulator)",
        );
    };
    let skew = i64::try_from(local_secs).unwrap_or(i64::MAX) - apple;
    let direction = if skew > 0 { "ahead of" } else { "behind" };
    if skew.abs() > MAX_SKEW_SECS {
        Finding::fail(
            ID,
            format!(
                "this machine's clock is {} s {direction} Apple's (Date: {date})",
                skew.abs()
            ),
            SYNC_HINT,
        )
    } else {
        Finding::pass(
            ID,
            format!("within {} s of Apple's (Date: {date})", skew.abs()),
        )
    }
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7) as Unix seconds.
fn parse_http_date(text: &str) -> Option<i64> {
    let (_, rest) = text.trim().split_once(", ")?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u32 = day.parse().ok()?;
    let month = MONTHS.iter().position(|m| m == month)? as u32 + 1;
    let year: i64 = year.parse().ok()?;
    let mut hms = time.split(':').map(|n| n.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 || hms.next().is_some() {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3_600 + m * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

#[cfg(test)]
mod tests {
    use super::*;
    use siwa_kit::doctor::Status;

    #[test]
    fn http_dates_parse_to_unix_seconds() {
        // RFC 9110's example.
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT"),
            Some(1_835_481_599)
        );
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 PST"), None);
    }

    #[test]
    fn a_minute_of_skew_passes_and_more_fails() {
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(check(Some(date), 784_111_777 + 60).status, Status::Pass);
        let ahead = check(Some(date), 784_111_777 + 61);
        assert_eq!(ahead.status, Status::Fail);
        assert!(ahead.message.contains("61 s ahead of"), "{}", ahead.message);
        let behind = check(Some(date), 784_111_777 - 3_600);
        assert!(
            behind.message.contains("3600 s behind"),
            "{}",
            behind.message
        );
        assert_eq!(check(None, 0).status, Status::Skip);
    }
}
