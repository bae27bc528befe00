//! Feature values into Arrow columns, for training-set output.
//!
//! Scalars become the Arrow type of their [`DataType`] (timestamps in UTC microseconds); `last_n`
//! lists become Arrow lists of it, newest first. A null feature is a null cell, never a default.
//!
//! [`FeatureBuilder`] takes answers one at a time, so a training set writes each answer into its
//! columns as it is computed instead of holding a row per answer first; [`feature_array`] builds a
//! column from answers already held.
//!
//! A builder's text comes out as string views, not offsets and bytes: each thread's answers are put
//! in spine order afterwards, which copied every string's bytes one `memcpy` at a time (8.6 % of
//! B3), where a view moves 16 bytes and holds a text of up to 12 bytes (an id, a category) whole.
//! The output writes a view as the text it holds (the `output` module).

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringViewBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, ListArray};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::Field;
use freshet_engine::{Cell, DataType, FeatureType, FeatureValue, Value};
use std::sync::Arc;

pub use freshet_sources::formats::{arrow_type, scalar_array};

static NULL: Value = Value::Null;

/// A column of one feature's values.
pub fn feature_array(feature: FeatureType, values: &[&FeatureValue]) -> ArrayRef {
    match feature {
        FeatureType::Scalar(t) => scalar_array(
            t,
            values.iter().map(|v| match v {
                FeatureValue::Scalar(x) => x,
                FeatureValue::List(_) => &NULL,
            }),
        ),
        FeatureType::List(t) => {
            let lists: Vec<&[Value]> = values
                .iter()
                .map(|v| match v {
                    FeatureValue::List(items) => items.as_slice(),
                    FeatureValue::Scalar(_) => &[],
                })
                .collect();
            let present: Vec<bool> = values
                .iter()
                .map(|v| matches!(v, FeatureValue::List(_)))
                .collect();
            let child = scalar_array(t, ChildValues::new(&lists));
            let offsets = OffsetBuffer::from_lengths(lists.iter().map(|l| l.len()));
            let field = Arc::new(Field::new_list_field(arrow_type(t), true));
            let nulls = NullBuffer::from(present);
            match ListArray::try_new(field.clone(), offsets.clone(), child, Some(nulls)) {
                Ok(list) => Arc::new(list),
                // Unreachable by construction (offsets come from the child's own lengths); an empty
                // list column is the honest fallback rather than a panic.
                Err(_) => Arc::new(ListArray::new_null(field, values.len())),
            }
        }
    }
}

/// One feature's column, filled an answer at a time: typed Arrow builders for scalars (a value of
/// another type becomes null, as in [`feature_array`]; text as string views); `last_n` lists are
/// kept and built at the end.
#[derive(Debug)]
pub enum FeatureBuilder {
    /// Booleans.
    Bool(BooleanBuilder),
    /// Integers.
    Int(Int64Builder),
    /// Floats.
    Float(Float64Builder),
    /// Text, as string views.
    Text(StringViewBuilder),
    /// UTC timestamps.
    Time(TimestampMicrosecondBuilder),
    /// Lists of the item type, built by [`feature_array`] when finished.
    List(FeatureType, Vec<FeatureValue>),
}

impl FeatureBuilder {
    /// An empty column of `feature`'s type with room for `rows` values.
    pub fn new(feature: FeatureType, rows: usize) -> FeatureBuilder {
        match feature {
            FeatureType::Scalar(DataType::Bool) => {
                FeatureBuilder::Bool(BooleanBuilder::with_capacity(rows))
            }
            FeatureType::Scalar(DataType::Int64) => {
                FeatureBuilder::Int(Int64Builder::with_capacity(rows))
            }
            FeatureType::Scalar(DataType::Float64) => {
                FeatureBuilder::Float(Float64Builder::with_capacity(rows))
            }
            FeatureType::Scalar(DataType::String) => {
                FeatureBuilder::Text(StringViewBuilder::with_capacity(rows))
            }
            FeatureType::Scalar(DataType::Timestamp) => FeatureBuilder::Time(
                TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"),
            ),
            FeatureType::List(_) => FeatureBuilder::List(feature, Vec::with_capacity(rows)),
        }
    }

    /// Appends one answer. Taken by reference: a builder copies what it keeps, so the answer's
    /// values (text behind reference counts) are neither cloned nor dropped here.
    pub fn push(&mut self, value: &FeatureValue) {
        let scalar = match (&mut *self, value) {
            (FeatureBuilder::List(_, values), value) => {
                values.push(value.clone());
                return;
            }
            (_, FeatureValue::Scalar(x)) => x,
            (_, FeatureValue::List(_)) => &NULL,
        };
        match (self, scalar) {
            (FeatureBuilder::Bool(b), Value::Bool(x)) => b.append_value(*x),
            (FeatureBuilder::Int(b), Value::Int64(x)) => b.append_value(*x),
            (FeatureBuilder::Float(b), Value::Float64(x)) => b.append_value(*x),
            (FeatureBuilder::Text(b), Value::String(x)) => b.append_value(&**x),
            (FeatureBuilder::Time(b), Value::Timestamp(x)) => b.append_value(x.micros()),
            (FeatureBuilder::Bool(b), _) => b.append_null(),
            (FeatureBuilder::Int(b), _) => b.append_null(),
            (FeatureBuilder::Float(b), _) => b.append_null(),
            (FeatureBuilder::Text(b), _) => b.append_null(),
            (FeatureBuilder::Time(b), _) => b.append_null(),
            (FeatureBuilder::List(..), _) => {}
        }
    }

    /// Appends one value read where it lies (a picked event's input, say): what
    /// [`FeatureBuilder::push`] appends for the scalar `cell.to_value()`, with text copied once,
    /// straight from the cell.
    pub fn push_cell(&mut self, cell: Cell<'_>) {
        match (self, cell) {
            (FeatureBuilder::List(_, values), cell) => {
                values.push(FeatureValue::Scalar(cell.to_value()));
            }
            (FeatureBuilder::Bool(b), Cell::Bool(x)) => b.append_value(x),
            (FeatureBuilder::Int(b), Cell::Int64(x)) => b.append_value(x),
            (FeatureBuilder::Float(b), Cell::Float64(x)) => b.append_value(x),
            (FeatureBuilder::Text(b), Cell::Str(x)) => b.append_value(x),
            (FeatureBuilder::Time(b), Cell::Timestamp(x)) => b.append_value(x),
            (FeatureBuilder::Bool(b), _) => b.append_null(),
            (FeatureBuilder::Int(b), _) => b.append_null(),
            (FeatureBuilder::Float(b), _) => b.append_null(),
            (FeatureBuilder::Text(b), _) => b.append_null(),
            (FeatureBuilder::Time(b), _) => b.append_null(),
        }
    }

    /// The finished column.
    pub fn finish(self) -> ArrayRef {
        match self {
            FeatureBuilder::Bool(mut b) => Arc::new(b.finish()),
            FeatureBuilder::Int(mut b) => Arc::new(b.finish()),
            FeatureBuilder::Float(mut b) => Arc::new(b.finish()),
            FeatureBuilder::Text(mut b) => Arc::new(b.finish()),
            FeatureBuilder::Time(mut b) => Arc::new(b.finish()),
            FeatureBuilder::List(feature, values) => {
                feature_array(feature, &values.iter().collect::<Vec<_>>())
            }
        }
    }
}

/// Every item of every list, in order, with an exact length (for the builders' capacity).
struct ChildValues<'a> {
    lists: &'a [&'a [Value]],
    list: usize,
    item: usize,
    remaining: usize,
}

impl<'a> ChildValues<'a> {
    fn new(lists: &'a [&'a [Value]]) -> ChildValues<'a> {
        ChildValues {
            lists,
            list: 0,
            item: 0,
            remaining: lists.iter().map(|l| l.len()).sum(),
        }
    }
}

impl<'a> Iterator for ChildValues<'a> {
    type Item = &'a Value;

    fn next(&mut self) -> Option<&'a Value> {
        while let Some(list) = self.lists.get(self.list) {
            if let Some(v) = list.get(self.item) {
                self.item += 1;
                self.remaining -= 1;
                return Some(v);
            }
            self.list += 1;
            self.item = 0;
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for ChildValues<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_engine::Timestamp;
    use proptest::prelude::*;

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int64),
            any::<f64>().prop_map(Value::Float64),
            "[a-z]{0,6}".prop_map(|s| Value::String(s.into())),
            any::<i64>().prop_map(|t| Value::Timestamp(Timestamp(t))),
        ]
    }

    fn feature_value() -> impl Strategy<Value = FeatureValue> {
        prop_oneof![
            4 => scalar().prop_map(FeatureValue::Scalar),
            1 => proptest::collection::vec(scalar(), 0..4).prop_map(FeatureValue::List),
        ]
    }

    fn feature_type() -> impl Strategy<Value = FeatureType> {
        let data_type = prop_oneof![
            Just(DataType::Bool),
            Just(DataType::Int64),
            Just(DataType::Float64),
            Just(DataType::String),
            Just(DataType::Timestamp),
        ];
        (data_type, any::<bool>()).prop_map(|(t, list)| {
            if list {
                FeatureType::List(t)
            } else {
                FeatureType::Scalar(t)
            }
        })
    }

    proptest! {
        /// Filled one answer at a time, a column equals the one built from all the answers at once,
        /// values of another type included (null in both).
        #[test]
        fn builder_matches_feature_array(
            feature in feature_type(),
            values in proptest::collection::vec(feature_value(), 0..40),
        ) {
            let mut builder = FeatureBuilder::new(feature, values.len() / 2);
            for v in &values {
                builder.push(v);
            }
            let built = builder.finish();
            let expected = feature_array(feature, &values.iter().collect::<Vec<_>>());
            // Text is built as views, holding the same strings.
            let viewed = feature == FeatureType::Scalar(DataType::String);
            prop_assert_eq!(
                built.data_type() == &arrow_schema::DataType::Utf8View,
                viewed
            );
            let built = arrow_cast::cast(&built, expected.data_type()).unwrap();
            prop_assert_eq!(built.data_type(), expected.data_type());
            prop_assert_eq!(built.to_data(), expected.to_data());
        }

        /// A scalar appended as a cell gives the column that appending it as a value gives.
        #[test]
        fn a_cell_appends_what_its_value_appends(
            feature in feature_type(),
            values in proptest::collection::vec(scalar(), 0..40),
        ) {
            let mut by_cell = FeatureBuilder::new(feature, 0);
            let mut by_value = FeatureBuilder::new(feature, 0);
            for v in &values {
                by_cell.push_cell(v.as_cell());
                by_value.push(&FeatureValue::Scalar(v.clone()));
            }
            prop_assert_eq!(by_cell.finish().to_data(), by_value.finish().to_data());
        }
    }
}
