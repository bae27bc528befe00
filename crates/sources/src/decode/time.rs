//! Timestamps as sources write them, read into UTC microseconds under the contract's zone rule.
//!
//! Accepted: RFC 3339 / ISO 8601 with an offset or `Z` (`2024-03-13T10:21:14Z`,
//! `2024-03-13 10:21:14.250+02:00`), at any precision down to nanoseconds (kept to the microsecond).
//! A timestamp *without* a zone (`2024-03-13 10:21:14`) is read only if the source says how
//! (`timezone: UTC` or an offset); otherwise it is rejected, never guessed. Bare numbers are rejected too:
//! seconds, milliseconds and microseconds since the epoch cannot be told apart reliably.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};

/// Why a timestamp was refused; the caller adds the field and source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeError {
    /// What is wrong.
    pub reason: String,
    /// How to fix it.
    pub help: String,
}

const NAIVE_FORMATS: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"];
const ZONED_FORMATS: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%d %H:%M:%S%.f%:z",
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f%#z",
];

/// Parses `text` to microseconds since the epoch (UTC). `zoneless_offset_seconds` is the source's
/// `timezone` setting, applied only to timestamps that carry no zone of their own.
pub fn parse_timestamp(text: &str, zoneless_offset_seconds: Option<i32>) -> Result<i64, TimeError> {
    let t = text.trim();
    let zoned = DateTime::parse_from_rfc3339(t).ok().or_else(|| {
        ZONED_FORMATS
            .iter()
            .find_map(|f| DateTime::parse_from_str(t, f).ok())
    });
    if let Some(instant) = zoned {
        return Ok(instant.timestamp_micros());
    }
    let naive = NAIVE_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        });
    match (naive, zoneless_offset_seconds) {
        (Some(local), Some(seconds)) => {
            let offset = FixedOffset::east_opt(seconds).ok_or_else(|| TimeError {
                reason: format!("time zone offset of {seconds} s is out of range"),
                help: "use an offset between -18:00 and +18:00".to_owned(),
            })?;
            local
                .and_local_timezone(offset)
                .single()
                .map(|instant| instant.timestamp_micros())
                .ok_or_else(|| TimeError { reason: format!("`{t}` does not exist in that zone"), help: String::new() })
        }
        (Some(_), None) => Err(TimeError {
            reason: format!("timestamp `{t}` has no time zone"),
            help: "add `timezone: UTC` (or the offset the data was recorded in) to the source in freshet.yaml, \
                   or write timestamps with an offset, e.g. `2024-03-13T10:21:14Z`"
                .to_owned(),
        }),
        (None, _) if t.parse::<f64>().is_ok() => {
            Err(TimeError {
                reason: format!("`{t}` is a bare number, not a timestamp"),
                help: "write RFC 3339 text such as `2024-03-13T10:21:14Z`; epoch numbers are ambiguous \
                       (seconds, milliseconds or microseconds)"
                    .to_owned(),
            })
        }
        (None, _) => Err(TimeError {
            reason: format!("`{t}` is not a timestamp"),
            help: "write RFC 3339, e.g. `2024-03-13T10:21:14Z` or `2024-03-13 10:21:14.5+01:00`".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_710_325_274_000_000; // 2024-03-13T10:21:14Z

    #[test]
    fn zoned_forms() {
        assert_eq!(parse_timestamp("2024-03-13T10:21:14Z", None), Ok(T));
        assert_eq!(parse_timestamp("2024-03-13 10:21:14Z", None), Ok(T));
        assert_eq!(parse_timestamp("2024-03-13T12:21:14+02:00", None), Ok(T));
        assert_eq!(parse_timestamp("2024-03-13T12:21:14+0200", None), Ok(T));
        assert_eq!(
            parse_timestamp("2024-03-13T10:21:14.123456789Z", None),
            Ok(T + 123_456)
        );
        // A zoned timestamp ignores the source's zone-less setting.
        assert_eq!(parse_timestamp("2024-03-13T10:21:14Z", Some(3600)), Ok(T));
    }

    #[test]
    fn zoneless_needs_configuration() {
        let e = parse_timestamp("2024-03-13 10:21:14", None).unwrap_err();
        assert_eq!(e.reason, "timestamp `2024-03-13 10:21:14` has no time zone");
        assert!(e.help.contains("timezone: UTC"));
        assert_eq!(parse_timestamp("2024-03-13 10:21:14", Some(0)), Ok(T));
        assert_eq!(parse_timestamp("2024-03-13T11:21:14", Some(3600)), Ok(T));
        assert_eq!(
            parse_timestamp("2024-03-13", Some(0)),
            Ok(T - (10 * 3600 + 21 * 60 + 14) * 1_000_000)
        );
    }

    #[test]
    fn numbers_and_garbage_are_refused() {
        assert!(
            parse_timestamp("1710325274", Some(0))
                .unwrap_err()
                .reason
                .contains("bare number")
        );
        assert!(
            parse_timestamp("yesterday", None)
                .unwrap_err()
                .reason
                .contains("not a timestamp")
        );
        assert!(parse_timestamp("2024-13-45T99:00:00Z", None).is_err());
        assert!(parse_timestamp("", None).is_err());
    }
}
