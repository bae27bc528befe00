//! The dynamically typed value that expressions and aggregations operate on.
//!
//! Schemas are known at validation time, so a well-formed pipeline never meets a value of an unexpected
//! variant; the enum exists because one evaluator serves every schema. Strings are reference counted so
//! that copying a row into window state does not copy text.

use crate::types::{DataType, Timestamp};
use std::sync::Arc;

/// One value of a column or expression. `Null` is a value of every type.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    /// The absence of a value.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int64(i64),
    /// A double.
    Float64(f64),
    /// Text.
    String(Arc<str>),
    /// An instant in UTC.
    Timestamp(Timestamp),
}

impl Value {
    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The type of a non-null value; `None` for `Null`, which belongs to every type.
    pub fn data_type(&self) -> Option<DataType> {
        self.as_cell().data_type()
    }

    /// Whether the value may stand in a column of type `t` (nulls fit everywhere).
    pub fn fits(&self, t: DataType) -> bool {
        self.as_cell().fits(t)
    }

    /// A numeric value as a double, for arithmetic after integer-to-float promotion.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int64(i) => Some(*i as f64),
            Value::Float64(f) => Some(*f),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(Arc::from(s))
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int64(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float64(f)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_fits_every_type() {
        for t in DataType::ALL {
            assert!(Value::Null.fits(t));
        }
        assert!(!Value::from(1i64).fits(DataType::Float64));
    }
}

/// A source value borrowed from where a columnar reader decoded it, so a batch can take it without a
/// [`Value`] (and a string) being built for every cell: see [`crate::Preparer::prepare_cells_routed`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    /// Missing.
    Null,
    /// An `int64`.
    Int64(i64),
    /// A `float64`.
    Float64(f64),
    /// A `bool`.
    Bool(bool),
    /// A `timestamp`, microseconds.
    Timestamp(i64),
    /// A `string`.
    Str(&'a str),
}

impl Value {
    /// The value as a cell borrowing its text.
    #[inline]
    pub fn as_cell(&self) -> Cell<'_> {
        match self {
            Value::Null => Cell::Null,
            Value::Int64(x) => Cell::Int64(*x),
            Value::Float64(x) => Cell::Float64(*x),
            Value::Bool(x) => Cell::Bool(*x),
            Value::Timestamp(t) => Cell::Timestamp(t.micros()),
            Value::String(s) => Cell::Str(s),
        }
    }
}

impl Cell<'_> {
    /// The type of a non-null cell; `None` for `Null`, which belongs to every type.
    #[inline]
    pub fn data_type(self) -> Option<DataType> {
        match self {
            Cell::Null => None,
            Cell::Bool(_) => Some(DataType::Bool),
            Cell::Int64(_) => Some(DataType::Int64),
            Cell::Float64(_) => Some(DataType::Float64),
            Cell::Str(_) => Some(DataType::String),
            Cell::Timestamp(_) => Some(DataType::Timestamp),
        }
    }

    /// Whether the cell may stand in a column of type `t` (nulls fit everywhere).
    #[inline]
    pub fn fits(self, t: DataType) -> bool {
        self.data_type().is_none_or(|own| own == t)
    }

    /// The same value, owned.
    #[inline]
    pub fn to_value(self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Int64(x) => Value::Int64(x),
            Cell::Float64(x) => Value::Float64(x),
            Cell::Bool(x) => Value::Bool(x),
            Cell::Timestamp(t) => Value::Timestamp(Timestamp(t)),
            Cell::Str(s) => Value::from(s),
        }
    }
}
