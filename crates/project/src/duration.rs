//! Durations as written in `freshet.yaml`: `500ms`, `30s`, `15m`, `1h`, `7d`, or compounds like `1h30m`.
//!
//! Windows and TTLs are exact, so a duration is an integer number of milliseconds; there are no months or
//! years, whose length varies. The canonical text (largest units first) is what the registry stores, so
//! `90m` and `1h30m` are the same window and never show up as a change.

use serde::{Deserialize, Serialize};
use std::fmt;

const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// A positive span of time in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Duration {
    millis: u64,
}

impl Duration {
    /// A duration of `millis` milliseconds.
    pub fn from_millis(millis: u64) -> Duration {
        Duration { millis }
    }

    /// Length in milliseconds.
    pub fn millis(self) -> u64 {
        self.millis
    }

    /// Length in microseconds, the engine's time unit.
    pub fn micros(self) -> i64 {
        i64::try_from(self.millis.saturating_mul(1_000)).unwrap_or(i64::MAX)
    }
}

/// Why a duration did not parse; the message says what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DurationError(String);

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        std::time::Duration::from_millis(d.millis)
    }
}

impl std::str::FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Duration, DurationError> {
        let err = |why: &str| DurationError(format!("invalid duration `{text}`: {why}"));
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(err("it is empty"));
        }
        let mut millis: u64 = 0;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(err("expected a number before each unit"));
            }
            let number: u64 = rest[..digits]
                .parse()
                .map_err(|_| err("the number is too large"))?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            let Some((_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
                return Err(err(if unit.is_empty() {
                    "a unit is missing (ms, s, m, h or d)"
                } else {
                    "units are ms, s, m, h and d"
                }));
            };
            millis = number
                .checked_mul(*scale)
                .and_then(|m| millis.checked_add(m))
                .ok_or_else(|| err("it is too long"))?;
            rest = &rest[unit_len..];
        }
        if millis == 0 {
            return Err(err("it must be longer than zero"));
        }
        Ok(Duration { millis })
    }
}

impl TryFrom<String> for Duration {
    type Error = DurationError;
    fn try_from(s: String) -> Result<Duration, DurationError> {
        s.parse()
    }
}

impl From<Duration> for String {
    fn from(d: Duration) -> String {
        d.to_string()
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.millis;
        if rest == 0 {
            return f.write_str("0ms");
        }
        for (unit, scale) in UNITS {
            if rest >= scale {
                write!(f, "{}{unit}", rest / scale)?;
                rest %= scale;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_units_and_compounds() {
        let ms = |s: &str| s.parse::<Duration>().map(Duration::millis);
        assert_eq!(ms("500ms"), Ok(500));
        assert_eq!(ms("30s"), Ok(30_000));
        assert_eq!(ms("15m"), Ok(900_000));
        assert_eq!(ms("1h"), Ok(3_600_000));
        assert_eq!(ms("7d"), Ok(604_800_000));
        assert_eq!(ms("1h30m"), Ok(5_400_000));
    }

    #[test]
    fn rejects_with_reasons() {
        let e = |s: &str| s.parse::<Duration>().unwrap_err().to_string();
        assert!(e("1w").contains("units are ms, s, m, h and d"));
        assert!(e("10").contains("a unit is missing"));
        assert!(e("h").contains("expected a number"));
        assert!(e("0s").contains("longer than zero"));
        assert!(e("").contains("empty"));
        assert!(e("99999999999999999999d").contains("too large"));
        assert!(e("9999999999999999d").contains("too long"));
    }

    #[test]
    fn canonical_text() {
        assert_eq!("90m".parse::<Duration>().unwrap().to_string(), "1h30m");
        assert_eq!("1500ms".parse::<Duration>().unwrap().to_string(), "1s500ms");
    }

    proptest! {
        #[test]
        fn display_round_trips(millis in 1u64..10_000_000_000_000) {
            let d = Duration::from_millis(millis);
            prop_assert_eq!(d.to_string().parse::<Duration>(), Ok(d));
        }
    }
}
