//! SCF's time strings: `YYYY-MM-DD HH:MM:SS` at a fixed offset (UTC+8 by default, reference §12.1).
//!
//! Written by hand rather than with a calendar crate: fixed offsets are all SCF uses, and the
//! civil-date conversion (H. Hinnant's days-from-civil and its inverse) is a dozen exact lines,
//! where a time-zone crate would be the largest dependency of this pure crate.

/// Days since 1970-01-01 to `(year, month, day)`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `(year, month, day)` to days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The UTC date `YYYY-MM-DD` of a Unix timestamp (the TC3 credential scope date).
pub fn utc_date(unix_seconds: i64) -> String {
    let (y, m, d) = civil_from_days(unix_seconds.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Formats Unix milliseconds as `YYYY-MM-DD HH:MM:SS` at `offset_seconds` east of UTC.
pub fn format_datetime(unix_ms: i64, offset_seconds: i32) -> String {
    let secs = unix_ms.div_euclid(1000) + i64::from(offset_seconds);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Formats Unix milliseconds as `YYYY-MM-DD HH:MM:SS.fff` (AsyncEvent times).
pub fn format_datetime_ms(unix_ms: i64, offset_seconds: i32) -> String {
    format!(
        "{}.{:03}",
        format_datetime(unix_ms, offset_seconds),
        unix_ms.rem_euclid(1000)
    )
}

/// Parses `YYYY-MM-DD HH:MM:SS` at `offset_seconds` east of UTC into Unix milliseconds.
pub fn parse_datetime(s: &str, offset_seconds: i32) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d == 0
        || d > month_days[mo as usize - 1]
        || h > 23
        || mi > 59
        || se > 59
    {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + se) - i64::from(offset_seconds);
    Some(secs * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_700_000_000), "2023-11-14");
        assert_eq!(utc_date(1_795_840_563), "2026-11-28");
    }

    #[test]
    fn beijing_time_round_trip() {
        // 2017-09-18T09:13:57Z is 17:13:57 in Beijing (the reference's log example).
        let ms = parse_datetime("2017-09-18 09:13:57", 0).expect("valid");
        assert_eq!(format_datetime(ms, 8 * 3600), "2017-09-18 17:13:57");
        assert_eq!(parse_datetime("2017-09-18 17:13:57", 8 * 3600), Some(ms));
        for s in [
            "2024-02-29 23:59:59",
            "1999-12-31 00:00:00",
            "2100-03-01 12:00:00",
        ] {
            let ms = parse_datetime(s, 28_800).expect(s);
            assert_eq!(format_datetime(ms + 999, 28_800), s);
        }
    }

    #[test]
    fn milliseconds() {
        let ms = parse_datetime("2020-12-01 08:35:00", 28_800).expect("valid") + 7;
        assert_eq!(format_datetime_ms(ms, 28_800), "2020-12-01 08:35:00.007");
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "2017-09-18",
            "2017-09-18T09:13:57",
            "2023-02-29 00:00:00",
            "2017-13-01 00:00:00",
            "2017-01-01 24:00:00",
            "2017-01-0a 00:00:00",
            "+017-01-01 00:00:00",
        ] {
            assert_eq!(parse_datetime(s, 0), None, "{s}");
        }
    }
}
