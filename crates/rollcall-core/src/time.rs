//! Timestamps and local dates. Rollcall stores instants as Unix milliseconds and
//! prints them as RFC 3339 in UTC with `Z`; reports count on local calendar dates.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// RFC 3339 in UTC with millisecond precision when there is a fraction.
pub fn format_ms(ms: i64) -> String {
    display_ms(ms).to_string()
}

/// An instant always with milliseconds (`2026-11-20T08:01:12.000Z`), so that
/// string order is time order (audit `ts`).
pub fn format_ms_fixed(ms: i64) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(ts) => format!("{ts:.3}"),
        Err(_) => "invalid".to_string(),
    }
}

/// [`format_ms`] as a `Display`, to write an instant without allocating.
pub fn display_ms(ms: i64) -> impl std::fmt::Display {
    struct Ms(i64);
    impl std::fmt::Display for Ms {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match Timestamp::from_millisecond(self.0) {
                Ok(ts) if self.0.rem_euclid(1000) == 0 => write!(f, "{ts:.0}"),
                Ok(ts) => write!(f, "{ts:.3}"),
                Err(_) => f.write_str("invalid"),
            }
        }
    }
    Ms(ms)
}

/// Parses an RFC 3339 / ISO 8601 instant (with `Z` or an offset) into Unix ms.
pub fn parse_instant_ms(text: &str) -> Result<i64, String> {
    text.parse::<Timestamp>()
        .map(|ts| ts.as_millisecond())
        .map_err(|_| format!("'{text}' is not an ISO 8601 timestamp such as 2020-01-01T00:00:00Z"))
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Result<Date, String> {
    if text.len() != 10 {
        return Err(format!("'{text}' is not a date of the form YYYY-MM-DD"));
    }
    text.parse::<Date>()
        .map_err(|_| format!("'{text}' is not a date of the form YYYY-MM-DD"))
}

/// Looks up an IANA time zone name such as `Europe/Berlin`.
pub fn parse_time_zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| format!("'{name}' is not a known IANA time zone"))
}

/// The local calendar date of an instant in a zone.
pub fn local_date(ms: i64, tz: &TimeZone) -> Date {
    match Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.to_zoned(tz.clone()).date(),
        Err(_) => Date::ZERO,
    }
}

/// Unix ms of local midnight starting `date` in `tz` (the first instant of that day).
pub fn start_of_day_ms(date: Date, tz: &TimeZone) -> i64 {
    date.to_zoned(tz.clone())
        .map(|z| z.start_of_day().map(|s| s.timestamp().as_millisecond()))
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0)
}

/// Days since 1970-01-01 of a civil date; the compact form dates take in storage.
pub fn day_number(date: Date) -> i32 {
    let epoch = Date::constant(1970, 1, 1);
    (date - epoch).get_days()
}

/// The civil date of a day number.
pub fn date_of_day_number(day: i32) -> Date {
    Date::constant(1970, 1, 1)
        .checked_add(jiff::Span::new().days(day))
        .unwrap_or(Date::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_z_and_optional_millis() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_ms(1_500), "1970-01-01T00:00:01.500Z");
    }

    #[test]
    fn parses_offsets_and_rejects_junk() {
        assert_eq!(
            parse_instant_ms("2020-01-01T01:00:00+01:00").unwrap(),
            1_577_836_800_000
        );
        assert!(parse_instant_ms("yesterday").is_err());
        assert!(parse_date("2026-02-30").is_err());
        assert!(parse_date("2026-2-3").is_err());
    }

    #[test]
    fn local_date_follows_the_zone() {
        let ny = parse_time_zone("America/New_York").unwrap();
        // 2026-11-21T04:30:00Z is 23:30 on the 20th in New York (UTC-5).
        let ms = parse_instant_ms("2026-11-21T04:30:00Z").unwrap();
        assert_eq!(local_date(ms, &ny), parse_date("2026-11-20").unwrap());
        let start = start_of_day_ms(parse_date("2026-11-20").unwrap(), &ny);
        assert_eq!(format_ms(start), "2026-11-20T05:00:00Z");
    }

    #[test]
    fn day_numbers_round_trip() {
        let d = parse_date("2026-11-23").unwrap();
        assert_eq!(date_of_day_number(day_number(d)), d);
        assert_eq!(day_number(parse_date("1970-01-02").unwrap()), 1);
    }
}
