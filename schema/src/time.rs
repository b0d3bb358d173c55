//! UTC timestamps as microseconds since the Unix epoch, and their RFC 3339 text form.
//!
//! Only the `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` form is accepted: scenario files name instants in
//! UTC, never in a local zone, so a dataset never depends on the machine's time zone.

/// Microseconds in one second, minute, hour and day.
pub const SECOND: i64 = 1_000_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` into microseconds since the epoch.
///
/// # Errors
/// Returns a message saying what form was expected when `text` is not that form.
pub fn parse_utc(text: &str) -> Result<i64, String> {
    let bad = || format!("`{text}` is not a UTC time like 2018-09-13T00:00:00Z");
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return Err(bad());
    }
    if b[16] != b':' || *b.last().unwrap() != b'Z' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let s = text.get(r).ok_or_else(bad)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<i64>().map_err(|_| bad())
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let frac = &text[19..text.len() - 1];
    let micros = if frac.is_empty() {
        0
    } else {
        let digits = frac.strip_prefix('.').ok_or_else(bad)?;
        if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        digits.parse::<i64>().map_err(|_| bad())? * 10_i64.pow(6 - digits.len() as u32)
    };
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59 {
        return Err(bad());
    }
    Ok(days_from_civil(y, mo, d) * DAY + h * HOUR + mi * MINUTE + s * SECOND + micros)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Formats microseconds since the epoch as `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`.
pub fn format_utc(micros: i64) -> String {
    let days = micros.div_euclid(DAY);
    let rest = micros.rem_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, us) = (
        rest / HOUR,
        rest % HOUR / MINUTE,
        rest % MINUTE / SECOND,
        rest % SECOND,
    );
    if us == 0 {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z")
    }
}

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq)]
pub enum DurationError {
    /// The unit after the number is none of us, ms, s, m, h, d.
    Unit(String),
    /// The number is missing, not a number, or not finite.
    Number,
}

/// Reads `500ms`, `30s`, `5m`, `2h`, `1d`, `10us` (a bare number is seconds) as microseconds,
/// unrounded. The sign is the caller's to judge: `-5m` is a unit error, as `-` is no digit.
///
/// # Errors
/// An unknown unit, or a number that does not parse or is not finite.
pub fn parse_duration_us(text: &str) -> Result<f64, DurationError> {
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" | "" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        "d" => 86_400e6,
        _ => return Err(DurationError::Unit(unit.to_string())),
    };
    match number.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(n * scale),
        _ => Err(DurationError::Number),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration_us("10us"), Ok(10.0));
        assert_eq!(parse_duration_us("250ms"), Ok(250_000.0));
        assert_eq!(parse_duration_us("1.5"), Ok(1_500_000.0));
        assert_eq!(parse_duration_us("5m"), Ok(5.0 * MINUTE as f64));
        assert_eq!(parse_duration_us("2h"), Ok(2.0 * HOUR as f64));
        assert_eq!(parse_duration_us("1d"), Ok(DAY as f64));
        assert_eq!(parse_duration_us("0s"), Ok(0.0));
        assert_eq!(
            parse_duration_us("3 fortnights"),
            Err(DurationError::Unit(" fortnights".into()))
        );
        assert_eq!(
            parse_duration_us("-5m"),
            Err(DurationError::Unit("-5m".into()))
        );
        assert_eq!(parse_duration_us("ms"), Err(DurationError::Number));
        assert_eq!(parse_duration_us("1.2.3s"), Err(DurationError::Number));
    }

    #[test]
    fn known_instants() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Ok(0));
        // `date -u -d 2018-09-13T00:00:00Z +%s` = 1536796800
        assert_eq!(
            parse_utc("2018-09-13T00:00:00Z"),
            Ok(1_536_796_800 * SECOND)
        );
        assert_eq!(
            parse_utc("2018-09-13T00:00:00.5Z"),
            Ok(1_536_796_800_500_000)
        );
        assert_eq!(format_utc(1_536_796_800 * SECOND), "2018-09-13T00:00:00Z");
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn round_trip_over_many_days() {
        for day in -800..30_000 {
            let t = day * DAY + 12_345 * SECOND + 678;
            assert_eq!(parse_utc(&format_utc(t)), Ok(t));
        }
    }

    #[test]
    fn rejects_other_forms() {
        for bad in [
            "2018-09-13",
            "2018-09-13 00:00:00Z",
            "2018-09-13T00:00:00+02:00",
            "2018-02-30T00:00:00Z",
            "2018-09-13T24:00:00Z",
            "2018-09-13T00:00:00.Z",
        ] {
            assert!(parse_utc(bad).is_err(), "{bad}");
        }
    }
}
