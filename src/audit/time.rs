//! Record times: RFC 3339 in UTC with milliseconds, and back.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now as RFC 3339 in UTC with milliseconds, e.g. `2026-12-01T23:25:16.123Z`.
pub fn now_rfc3339() -> String {
    rfc3339_of(SystemTime::now())
}

/// `time` as RFC 3339 in UTC with milliseconds.
pub fn rfc3339_of(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    rfc3339(since.as_secs(), since.subsec_millis())
}

/// `secs` since the Unix epoch as RFC 3339 UTC (days to civil date:
/// H. Hinnant's algorithm, valid for the proleptic Gregorian calendar).
fn rfc3339(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses the `time` of a record (for `audit show --since`): the seconds
/// since the epoch, from an RFC 3339 UTC time or a date `YYYY-MM-DD`.
pub fn parse_time(text: &str) -> Option<u64> {
    let date = text.get(..10)?;
    let mut parts = date.split('-');
    let (y, m, d): (i64, i64, i64) = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    let (h, min, s) = match text.get(11..19) {
        Some(t) => {
            let mut p = t.split(':');
            (
                p.next()?.parse::<u64>().ok()?,
                p.next()?.parse::<u64>().ok()?,
                p.next()?.parse::<u64>().ok()?,
            )
        }
        None => (0, 0, 0),
    };
    // Days from civil (inverse of `rfc3339`).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days)
        .ok()
        .map(|d| d * 86_400 + h * 3600 + min * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_796_167_516, 123), "2026-12-01T23:25:16.123Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000Z");
        assert_eq!(parse_time("2026-12-01T23:25:16.123Z"), Some(1_796_167_516));
        assert_eq!(parse_time("2000-02-29"), Some(951_782_400));
        assert_eq!(parse_time("yesterday"), None);
    }
}
