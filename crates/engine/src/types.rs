//! Column and feature types.
//!
//! The set is deliberately small: every type here has one obvious encoding in JSON, Parquet and Redis, and
//! every aggregation has a precise typing rule over it (see [`crate::aggregation`]). Integers are 64-bit and
//! floats are IEEE doubles so that arithmetic never depends on a narrower storage type.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The type of a source column, a derived column or an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// `true` / `false`.
    Bool,
    /// A signed 64-bit integer.
    Int64,
    /// An IEEE 754 double.
    Float64,
    /// UTF-8 text.
    String,
    /// An instant in UTC with microsecond precision.
    Timestamp,
}

impl DataType {
    /// Every type, in the order the documentation lists them.
    pub const ALL: [DataType; 5] = [
        DataType::Bool,
        DataType::Int64,
        DataType::Float64,
        DataType::String,
        DataType::Timestamp,
    ];

    /// The spelling used in `freshet.yaml` schemas and in messages.
    pub fn name(self) -> &'static str {
        match self {
            DataType::Bool => "bool",
            DataType::Int64 => "int64",
            DataType::Float64 => "float64",
            DataType::String => "string",
            DataType::Timestamp => "timestamp",
        }
    }

    /// Parses the spelling returned by [`DataType::name`]; nothing else is accepted, so that a schema has
    /// exactly one way to say each type.
    pub fn from_name(name: &str) -> Option<DataType> {
        DataType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether arithmetic and numeric aggregations accept this type.
    pub fn is_numeric(self) -> bool {
        matches!(self, DataType::Int64 | DataType::Float64)
    }

    /// Whether values of this type have a total order usable by `min`, `max` and comparisons.
    pub fn is_ordered(self) -> bool {
        !matches!(self, DataType::Bool)
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The type of a feature's value: a scalar, or a list for `last_n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "item")]
pub enum FeatureType {
    /// One value of the given type.
    Scalar(DataType),
    /// A list of values of the given type, newest first.
    List(DataType),
}

impl fmt::Display for FeatureType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeatureType::Scalar(t) => write!(f, "{t}"),
            FeatureType::List(t) => write!(f, "list<{t}>"),
        }
    }
}

/// An instant in UTC as microseconds since the Unix epoch.
///
/// Microseconds satisfy the contract's "at least millisecond precision" with room to spare and still cover
/// roughly 292,000 years either side of 1970 in an `i64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Microseconds in one hour; used by the calendar functions of [`crate::expr`].
    pub const MICROS_PER_HOUR: i64 = 3_600_000_000;
    /// Microseconds in one day.
    pub const MICROS_PER_DAY: i64 = 24 * Self::MICROS_PER_HOUR;

    /// Microseconds since the Unix epoch.
    pub fn micros(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in DataType::ALL {
            assert_eq!(DataType::from_name(t.name()), Some(t));
        }
        assert_eq!(DataType::from_name("int"), None);
    }

    #[test]
    fn feature_type_display() {
        assert_eq!(
            FeatureType::List(DataType::Float64).to_string(),
            "list<float64>"
        );
        assert_eq!(FeatureType::Scalar(DataType::Int64).to_string(), "int64");
    }
}
