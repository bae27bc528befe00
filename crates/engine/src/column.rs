//! One feature input of many prepared events, stored by type: the value columns of an
//! [`crate::EventBatch`].
//!
//! A training set prepares ten million events before it answers anything, and most of that time used
//! to go to memory: one 24-byte [`Value`] per input per event, and a separately allocated, reference
//! counted string for every text value (an id is a new string per event). An [`InputColumn`] keeps a
//! float as 8 bytes, text with few distinct values (a status) as a 4-byte code into a table of shared
//! strings, and any other text as its bytes in one shared buffer, so an event's inputs cost a third of
//! what they did and dropping a batch frees a few large buffers instead of millions of small ones.
//!
//! The column takes its type from the first non-null value it is given, so it needs no schema. A
//! value of another type (which a validated view never produces) turns it into plain [`Value`]s: the
//! column is a storage choice and never changes what is read back. Reading returns a [`Cow`]: plain
//! values are borrowed, typed ones are rebuilt (a string is allocated only when it is read, and the
//! as-of query reads few).

mod dictionary;

use crate::types::Timestamp;
use crate::value::{Cell, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Appends `from` to `to`. A merge of day files hands over runs of about three events, and
/// `extend_from_slice` calls the C library's `memmove` for each: that call was 7 % of a training
/// set's time (B3w), more than the copying. Short runs are copied inline instead.
#[inline]
pub(crate) fn push_slice<T: Copy>(to: &mut Vec<T>, from: &[T]) {
    if from.len() <= 16 {
        to.reserve(from.len());
        for &x in from {
            to.push(x);
        }
    } else {
        to.extend_from_slice(from);
    }
}

/// The values of one input, one per event, by type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct InputColumn {
    data: Data,
    /// `nulls[i]`: event `i`'s value is null. Empty until the first null of a typed column.
    nulls: Vec<bool>,
    /// Values to make room for once the type is known.
    capacity: usize,
    /// How the dictionaries of runs taken in so far map to words' codes.
    translations: dictionary::Translations,
}

#[derive(Clone, Debug, PartialEq)]
enum Data {
    /// Only nulls so far (this many).
    Untyped(usize),
    Int(Vec<i64>),
    Float(Vec<f64>),
    Time(Vec<i64>),
    Bool(Vec<bool>),
    /// Text with few distinct values (a status, a country): event `i`'s text is `words.get(codes[i])`.
    /// Four bytes an event, and reading a value shares its string instead of allocating one.
    Words {
        codes: Vec<u32>,
        words: Words,
    },
    /// Event `i`'s text is `bytes[ends[i - 1]..ends[i]]` (from 0 for the first).
    Text {
        bytes: String,
        ends: Vec<usize>,
    },
    /// Values of more than one type: kept as they came.
    Mixed(Vec<Value>),
}

impl Default for InputColumn {
    fn default() -> Self {
        InputColumn::with_capacity(0)
    }
}

impl InputColumn {
    /// An empty column that makes room for `capacity` values when its first value sets its type.
    pub(crate) fn with_capacity(capacity: usize) -> InputColumn {
        InputColumn {
            data: Data::Untyped(0),
            nulls: Vec::new(),
            capacity,
            translations: dictionary::Translations::default(),
        }
    }

    /// Number of values.
    pub(crate) fn len(&self) -> usize {
        match &self.data {
            Data::Untyped(n) => *n,
            Data::Int(v) | Data::Time(v) => v.len(),
            Data::Float(v) => v.len(),
            Data::Bool(v) => v.len(),
            Data::Words { codes, .. } => codes.len(),
            Data::Text { ends, .. } => ends.len(),
            Data::Mixed(v) => v.len(),
        }
    }

    /// Appends a run of plain numbers in one copy, if the column already holds that type; `false`
    /// (nothing appended) otherwise.
    pub(crate) fn extend_slice(&mut self, run: crate::run::ColumnRun<'_>) -> bool {
        use crate::run::ColumnRun;
        let added = match (run, &mut self.data) {
            (ColumnRun::Int64(v), Data::Int(values))
            | (ColumnRun::Timestamp(v), Data::Time(values)) => {
                push_slice(values, v);
                v.len()
            }
            (ColumnRun::Float64(v), Data::Float(values)) => {
                push_slice(values, v);
                v.len()
            }
            _ => return false,
        };
        if !self.nulls.is_empty() {
            self.nulls.resize(self.nulls.len() + added, false);
        }
        true
    }

    /// Removes every value, keeping the type, the memory and (for words) the table of texts seen,
    /// which the next values of a reused column are likely to share.
    pub(crate) fn clear(&mut self) {
        match &mut self.data {
            Data::Untyped(n) => *n = 0,
            Data::Int(v) | Data::Time(v) => v.clear(),
            Data::Float(v) => v.clear(),
            Data::Bool(v) => v.clear(),
            Data::Words { codes, .. } => codes.clear(),
            Data::Text { bytes, ends } => {
                bytes.clear();
                ends.clear();
            }
            Data::Mixed(v) => v.clear(),
        }
        self.nulls.clear();
    }

    /// Room for `additional` more values (text: their ends; the bytes grow as they come).
    fn reserve(&mut self, additional: usize) {
        match &mut self.data {
            Data::Untyped(_) => {}
            Data::Int(v) | Data::Time(v) => v.reserve(additional),
            Data::Float(v) => v.reserve(additional),
            Data::Bool(v) => v.reserve(additional),
            Data::Words { codes, .. } => codes.reserve(additional),
            Data::Text { ends, .. } => ends.reserve(additional),
            Data::Mixed(v) => v.reserve(additional),
        }
    }

    /// Appends one value.
    pub(crate) fn push(&mut self, value: &Value) {
        self.push_cell(value.as_cell());
    }

    /// Appends one value read where a columnar reader decoded it: a text is copied straight in (or
    /// found in the column's table), never first made a shared string of its own.
    #[inline]
    pub(crate) fn push_cell(&mut self, cell: Cell<'_>) {
        if let Cell::Null = cell {
            self.push_null();
            return;
        }
        if let Data::Untyped(n) = self.data {
            // Typed storage keeps a placeholder and a null flag for each null seen before.
            self.data = Data::empty_for(cell);
            self.reserve(self.capacity.max(n + 1));
            for _ in 0..n {
                self.push_null();
            }
        }
        if !self.push_typed(cell) {
            self.make_mixed();
            if let Data::Mixed(values) = &mut self.data {
                values.push(cell.to_value());
            }
        }
        if !self.nulls.is_empty() {
            self.nulls.push(false);
        }
    }

    fn push_null(&mut self) {
        if self.nulls.is_empty() && !matches!(self.data, Data::Untyped(_) | Data::Mixed(_)) {
            self.nulls.resize(self.len(), false);
        }
        match &mut self.data {
            Data::Untyped(n) => {
                *n += 1;
                return;
            }
            Data::Mixed(values) => {
                values.push(Value::Null);
                return;
            }
            Data::Int(v) | Data::Time(v) => v.push(0),
            Data::Float(v) => v.push(0.0),
            Data::Bool(v) => v.push(false),
            Data::Words { codes, .. } => codes.push(0),
            Data::Text { bytes, ends } => ends.push(bytes.len()),
        }
        self.nulls.push(true);
    }

    /// Stores a non-null value if it has the column's type.
    #[inline]
    fn push_typed(&mut self, cell: Cell<'_>) -> bool {
        let capacity = self.capacity;
        match (&mut self.data, cell) {
            (Data::Int(v), Cell::Int64(x)) => v.push(x),
            (Data::Float(v), Cell::Float64(x)) => v.push(x),
            (Data::Time(v), Cell::Timestamp(t)) => v.push(t),
            (Data::Bool(v), Cell::Bool(b)) => v.push(b),
            (Data::Words { codes, words }, Cell::Str(text)) => match words.code(text) {
                Some(code) => codes.push(code),
                None => {
                    self.make_text();
                    return self.push_typed(cell);
                }
            },
            (Data::Text { bytes, ends }, Cell::Str(text)) => {
                if bytes.capacity() - bytes.len() < text.len() {
                    reserve_text(bytes, ends.len(), capacity, text.len());
                }
                bytes.push_str(text);
                ends.push(bytes.len());
            }
            _ => return false,
        }
        true
    }

    /// Turns a column of few distinct texts into one of any texts, once there are too many to share.
    fn make_text(&mut self) {
        let Data::Words { codes, words } = &self.data else {
            return;
        };
        let mut bytes = String::new();
        let mut ends = Vec::with_capacity(self.capacity.max(codes.len() + 1));
        for (i, &code) in codes.iter().enumerate() {
            if !self.nulls.get(i).copied().unwrap_or(false) {
                bytes.push_str(words.get(code));
            }
            ends.push(bytes.len());
        }
        self.data = Data::Text { bytes, ends };
    }

    /// Turns the column into plain values, keeping every value read so far.
    fn make_mixed(&mut self) {
        if matches!(self.data, Data::Mixed(_)) {
            return;
        }
        let mut values: Vec<Value> = Vec::with_capacity(self.capacity.max(self.len() + 1));
        values.extend((0..self.len()).map(|i| self.get(i).into_owned()));
        self.data = Data::Mixed(values);
        self.nulls = Vec::new();
    }

    /// The value of event `i` (`None` past the end).
    pub(crate) fn get(&self, i: usize) -> Cow<'_, Value> {
        if self.nulls.get(i).copied().unwrap_or(false) {
            return Cow::Owned(Value::Null);
        }
        let value = match &self.data {
            Data::Untyped(_) => Value::Null,
            Data::Mixed(values) => {
                return values.get(i).map_or(Cow::Owned(Value::Null), Cow::Borrowed);
            }
            Data::Int(v) => v.get(i).map_or(Value::Null, |x| Value::Int64(*x)),
            Data::Float(v) => v.get(i).map_or(Value::Null, |x| Value::Float64(*x)),
            Data::Time(v) => v
                .get(i)
                .map_or(Value::Null, |x| Value::Timestamp(Timestamp(*x))),
            Data::Bool(v) => v.get(i).map_or(Value::Null, |x| Value::Bool(*x)),
            Data::Words { codes, words } => codes
                .get(i)
                .map_or(Value::Null, |&c| Value::String(words.shared(c))),
            Data::Text { bytes, ends } => match ends.get(i) {
                Some(&end) => {
                    let start = if i == 0 { 0 } else { ends[i - 1] };
                    bytes.get(start..end).map_or(Value::Null, Value::from)
                }
                None => Value::Null,
            },
        };
        Cow::Owned(value)
    }

    /// Whether event `i`'s value would be counted by an aggregation: not null and not NaN. Answers
    /// without building the value, so a scan for the newest counted value allocates nothing.
    /// Event `i`'s value when the column stores floats (`Some(None)`: null); `None` when it stores
    /// anything else, and the caller reads it through [`InputColumn::get`].
    pub(crate) fn float(&self, i: usize) -> Option<Option<f64>> {
        match &self.data {
            Data::Float(v) if !self.nulls.get(i).copied().unwrap_or(false) => {
                Some(v.get(i).copied())
            }
            Data::Float(_) => Some(None),
            _ => None,
        }
    }

    /// Values `range` as floats with their null flags (`None`: none of the column is null), where
    /// the column holds floats; `None` otherwise.
    pub(crate) fn float_slice(
        &self,
        range: std::ops::Range<usize>,
    ) -> Option<(&[f64], Option<&[bool]>)> {
        let Data::Float(values) = &self.data else {
            return None;
        };
        let nulls = match self.nulls.is_empty() {
            true => None,
            false => Some(self.nulls.get(range.clone())?),
        };
        Some((values.get(range)?, nulls))
    }

    pub(crate) fn is_counted(&self, i: usize) -> bool {
        if self.nulls.get(i).copied().unwrap_or(false) {
            return false;
        }
        match &self.data {
            Data::Untyped(_) => false,
            Data::Float(v) => v.get(i).is_some_and(|x| !x.is_nan()),
            Data::Mixed(values) => values
                .get(i)
                .is_some_and(|v| !v.is_null() && !matches!(v, Value::Float64(f) if f.is_nan())),
            _ => i < self.len(),
        }
    }

    /// Moves every value of `other` to the end of this column.
    pub(crate) fn append(&mut self, other: &mut InputColumn) {
        if let Data::Untyped(n) = other.data {
            for _ in 0..n {
                self.push_null();
            }
            other.data = Data::Untyped(0);
            return;
        }
        if let Data::Untyped(n) = self.data
            && n == 0
        {
            std::mem::swap(self, other);
            return;
        }
        if !same_type(&self.data, &other.data) || !self.append_same(other) {
            // Different types, or nulls on one side only: go value by value (rare; never on the
            // paths that build large batches, which fill each column from the same view).
            for i in 0..other.len() {
                let value = other.get(i).into_owned();
                self.push(&value);
            }
        }
        *other = InputColumn::with_capacity(other.capacity);
    }

    /// Appends a column of the same type whole; `false` if it cannot be done in bulk.
    fn append_same(&mut self, other: &mut InputColumn) -> bool {
        let (self_len, other_len) = (self.len(), other.len());
        if self.nulls.is_empty() != other.nulls.is_empty() {
            if self.nulls.is_empty() {
                self.nulls.resize(self_len, false);
            } else {
                other.nulls.resize(other_len, false);
            }
        }
        match (&mut self.data, &mut other.data) {
            (Data::Int(a), Data::Int(b)) | (Data::Time(a), Data::Time(b)) => a.append(b),
            (Data::Float(a), Data::Float(b)) => a.append(b),
            (Data::Bool(a), Data::Bool(b)) => a.append(b),
            (Data::Mixed(a), Data::Mixed(b)) => a.append(b),
            (Data::Words { codes, words }, Data::Words { codes: c, words: w }) => {
                // Other's codes renumbered into this column's words, unless there would be too many.
                let Some(renumber) = w
                    .all()
                    .iter()
                    .map(|s| words.code(s))
                    .collect::<Option<Vec<u32>>>()
                else {
                    return false;
                };
                codes.extend(
                    c.iter()
                        .map(|&code| renumber.get(code as usize).copied().unwrap_or(0)),
                );
            }
            (Data::Text { bytes, ends }, Data::Text { bytes: b, ends: e }) => {
                let base = bytes.len();
                bytes.push_str(b);
                ends.extend(e.iter().map(|end| end + base));
            }
            _ => return false,
        }
        self.nulls.append(&mut other.nulls);
        true
    }
}

impl Data {
    /// Empty typed storage for `cell`'s type.
    fn empty_for(cell: Cell<'_>) -> Data {
        match cell {
            Cell::Int64(_) => Data::Int(Vec::new()),
            Cell::Float64(_) => Data::Float(Vec::new()),
            Cell::Timestamp(_) => Data::Time(Vec::new()),
            Cell::Bool(_) => Data::Bool(Vec::new()),
            Cell::Str(_) => Data::Words {
                codes: Vec::new(),
                words: Words::default(),
            },
            Cell::Null => Data::Untyped(0),
        }
    }
}

/// The distinct texts of a [`Data::Words`] column, numbered in first-seen order.
#[derive(Clone, Default, PartialEq)]
struct Words {
    all: Vec<Arc<str>>,
    codes: HashMap<Arc<str>, u32, foldhash::fast::RandomState>,
}

impl Words {
    /// Distinct texts a column shares before it stores each value's bytes instead: enough for any
    /// category, few enough that the table stays in cache.
    const LIMIT: usize = 4096;

    /// The code of `text`, numbering it (and copying it) if new; `None` when the table is full.
    #[inline]
    fn code(&mut self, text: &str) -> Option<u32> {
        if let Some(&code) = self.codes.get(text) {
            return Some(code);
        }
        if self.all.len() >= Words::LIMIT {
            return None;
        }
        let code = self.all.len() as u32;
        let text: Arc<str> = Arc::from(text);
        self.all.push(text.clone());
        self.codes.insert(text, code);
        Some(code)
    }

    fn get(&self, code: u32) -> &str {
        self.all.get(code as usize).map_or("", |s| s)
    }

    fn shared(&self, code: u32) -> Arc<str> {
        self.all
            .get(code as usize)
            .cloned()
            .unwrap_or_else(|| Arc::from(""))
    }

    fn all(&self) -> &[Arc<str>] {
        &self.all
    }
}

/// The texts in code order: the lookup table is how they are found, not what the table holds.
impl std::fmt::Debug for Words {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.all).finish()
    }
}

/// Grows a text buffer holding `count` values (of `capacity` expected) to fit the rest at their
/// average length so far, plus an eighth: one or two copies instead of one per doubling.
fn reserve_text(bytes: &mut String, count: usize, capacity: usize, next: usize) {
    let average = bytes.len() / count.max(1) + 1;
    let expected = average * capacity.saturating_sub(count);
    bytes.reserve(next.max(expected + expected / 8));
}

fn same_type(a: &Data, b: &Data) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            3 => Just(Value::Null),
            3 => any::<f64>().prop_map(Value::Float64),
            1 => Just(Value::Float64(f64::NAN)),
            2 => any::<i64>().prop_map(Value::Int64),
            1 => any::<i64>().prop_map(|t| Value::Timestamp(Timestamp(t))),
            1 => any::<bool>().prop_map(Value::Bool),
            3 => "[a-z]{0,6}".prop_map(|s| Value::from(s.as_str())),
        ]
    }

    /// Values of one type (the normal case) or of any (the fallback), so both are exercised.
    fn values() -> impl Strategy<Value = Vec<Value>> {
        prop_oneof![
            prop::collection::vec(value(), 0..40),
            (prop::collection::vec(value(), 0..40)).prop_map(|vs| {
                let kind = vs.iter().find(|v| !v.is_null()).cloned();
                vs.into_iter()
                    .filter(|v| v.is_null() || kind.as_ref().is_none_or(|k| same_kind(k, v)))
                    .collect()
            }),
        ]
    }

    fn same_kind(a: &Value, b: &Value) -> bool {
        std::mem::discriminant(a) == std::mem::discriminant(b)
    }

    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Float64(x), Value::Float64(y)) => x.to_bits() == y.to_bits(),
            _ => a == b,
        }
    }

    fn column(values: &[Value]) -> InputColumn {
        let mut column = InputColumn::with_capacity(values.len());
        for v in values {
            column.push(v);
        }
        column
    }

    proptest! {
        #[test]
        fn reads_back_what_was_pushed_and_appended(
            first in values(),
            second in values(),
        ) {
            let mut joined = column(&first);
            joined.append(&mut column(&second));
            let expected: Vec<&Value> = first.iter().chain(&second).collect();
            prop_assert_eq!(joined.len(), expected.len());
            for (i, want) in expected.iter().enumerate() {
                let got = joined.get(i);
                prop_assert!(same(&got, want), "value {}: {:?} != {:?}", i, got, want);
                let counted = !want.is_null() && !matches!(want, Value::Float64(f) if f.is_nan());
                prop_assert_eq!(joined.is_counted(i), counted);
            }
            prop_assert!(joined.get(expected.len()).is_null());
        }
    }

    #[test]
    fn nulls_before_the_first_value_are_kept() {
        let col = column(&[Value::Null, Value::Null, Value::from("a"), Value::Null]);
        assert!(matches!(col.data, Data::Words { .. }));
        let read: Vec<Value> = (0..4).map(|i| col.get(i).into_owned()).collect();
        assert_eq!(
            read,
            [Value::Null, Value::Null, Value::from("a"), Value::Null]
        );
    }

    #[test]
    fn a_second_type_keeps_every_value() {
        let col = column(&[Value::Int64(1), Value::Null, Value::Float64(2.0)]);
        assert!(matches!(col.data, Data::Mixed(_)));
        assert_eq!(*col.get(0), Value::Int64(1));
        assert_eq!(*col.get(1), Value::Null);
        assert_eq!(*col.get(2), Value::Float64(2.0));
    }

    #[test]
    fn many_distinct_texts_stop_being_shared_and_keep_every_value() {
        let values: Vec<Value> = (0..Words::LIMIT * 2)
            .map(|i| {
                if i % 7 == 3 {
                    Value::Null
                } else {
                    Value::from(format!("id-{i}").as_str())
                }
            })
            .collect();
        let (first, second) = values.split_at(Words::LIMIT / 2);
        let mut col = column(first);
        assert!(matches!(col.data, Data::Words { .. }));
        // Appending a column with enough new texts goes past the table's limit.
        col.append(&mut column(second));
        assert!(matches!(col.data, Data::Text { .. }));
        let read: Vec<Value> = (0..values.len()).map(|i| col.get(i).into_owned()).collect();
        assert_eq!(read, values);
        let pushed = column(&values);
        assert!(matches!(pushed.data, Data::Text { .. }));
        assert!((0..values.len()).all(|i| pushed.get(i) == col.get(i)));
    }

    #[test]
    fn appended_words_are_renumbered_into_the_first_column() {
        let mut col = column(&[Value::from("a"), Value::from("b")]);
        col.append(&mut column(&[
            Value::from("b"),
            Value::Null,
            Value::from("c"),
        ]));
        let read: Vec<Value> = (0..5).map(|i| col.get(i).into_owned()).collect();
        let want = ["a", "b", "b", "", "c"].map(|s| {
            if s.is_empty() {
                Value::Null
            } else {
                Value::from(s)
            }
        });
        assert_eq!(read, want);
        assert!(matches!(col.data, Data::Words { .. }));
    }

    fn cells(values: &[Value]) -> InputColumn {
        let mut col = InputColumn::with_capacity(values.len());
        for v in values {
            col.push_cell(v.as_cell());
        }
        col
    }

    proptest! {
        #[test]
        fn cells_store_what_values_store(vs in values()) {
            let (by_value, by_cell) = (column(&vs), cells(&vs));
            prop_assert_eq!(format!("{by_value:?}"), format!("{by_cell:?}"));
        }
    }

    #[test]
    fn cells_of_many_distinct_texts_turn_into_bytes_too() {
        let values: Vec<Value> = (0..Words::LIMIT + 10)
            .map(|i| Value::from(format!("id-{i}").as_str()))
            .collect();
        let col = cells(&values);
        assert!(matches!(col.data, Data::Text { .. }));
        assert_eq!(format!("{col:?}"), format!("{:?}", column(&values)));
    }
}
