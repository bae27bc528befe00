//! Feature values into Arrow columns, for training-set output.
//!
//! Scalars become the Arrow type of their [`DataType`] (timestamps in UTC microseconds); `last_n`
//! lists become Arrow lists of it, newest first. A null feature is a null cell, never a default.

use arrow_array::{ArrayRef, ListArray};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::Field;
use freshet_engine::{FeatureType, FeatureValue, Value};
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
