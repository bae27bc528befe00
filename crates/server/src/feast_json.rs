//! Feast's column-major answer written as JSON bytes by hand.
//!
//! A 50-feature lookup answers with 50 columns, each with a value, a status and an event time per
//! entity. Through `axum::Json` the answer went through serde into a buffer that started at 128
//! bytes and grew by copying, and every status and time was scanned for characters to escape: the
//! writing, the growing and the escaping were about a fifth of the server's CPU per lookup (B1's
//! profile, docs/benchmarks.md). Here the buffer is sized from the answer before anything is
//! written, and text that needs no escaping (the statuses and times freshet writes itself, and
//! almost every name) is copied as it is. Values, and any text that does need escaping, still go
//! through serde_json, so the bytes are exactly those of `serde_json::to_vec` (a property test holds
//! the two together).

use crate::lookup::OnlineFeatures;

/// `answer` as compact JSON, byte for byte what `serde_json::to_vec(answer)` gives.
pub fn to_json(answer: &OnlineFeatures) -> Vec<u8> {
    let mut out = Vec::with_capacity(estimated_len(answer));
    out.extend_from_slice(b"{\"metadata\":{\"feature_names\":");
    list(&mut out, &answer.metadata.feature_names, |out, name| {
        text(out, name);
    });
    out.extend_from_slice(b"},\"results\":");
    list(&mut out, &answer.results, |out, column| {
        out.extend_from_slice(b"{\"values\":");
        list(out, &column.values, json);
        out.extend_from_slice(b",\"statuses\":");
        list(out, &column.statuses, |out, status| text(out, status));
        out.extend_from_slice(b",\"event_timestamps\":");
        list(out, column.event_timestamps.iter(), |out, time| {
            text(out, time)
        });
        out.push(b'}');
    });
    out.push(b'}');
    out
}

/// A JSON array of `items`, each written by `item`.
fn list<T>(
    out: &mut Vec<u8>,
    items: impl IntoIterator<Item = T>,
    mut item: impl FnMut(&mut Vec<u8>, T),
) {
    out.push(b'[');
    for (i, x) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item(out, x);
    }
    out.push(b']');
}

/// About how long the JSON of `answer` is: exact for text that needs no escaping, a guess for
/// values (a float's digits), so the buffer seldom grows.
fn estimated_len(answer: &OnlineFeatures) -> usize {
    let names = quoted(answer.metadata.feature_names.iter().map(String::len));
    let columns: usize = answer
        .results
        .iter()
        .map(|c| {
            64 + 24 * c.values.len()
                + quoted(c.statuses.iter().map(|s| s.len()))
                + quoted(c.event_timestamps.iter().map(String::len))
        })
        .sum();
    64 + names + columns
}

/// The bytes of texts of lengths `lens` written in a list: each with its quotes and a comma.
fn quoted(lens: impl Iterator<Item = usize>) -> usize {
    lens.map(|len| len + 3).sum()
}

/// A JSON string: copied between quotes when nothing in it needs escaping, else through serde_json.
fn text(out: &mut Vec<u8>, s: &str) {
    // JSON escapes quotes, backslashes and control characters; serde_json escapes nothing else.
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        json(out, &s);
    }
}

fn json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Serializing a `serde_json::Value` or a string into a vector cannot fail: a value's map keys
    // are strings, and a vector's writes always succeed. Were it to, `null` stands for the value.
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"null");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lookup::{Column, Metadata};
    use proptest::prelude::*;
    use serde_json::Value as Json;

    fn value() -> impl Strategy<Value = Json> {
        prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            any::<i64>().prop_map(Json::from),
            any::<f64>().prop_map(Json::from),
            ".{0,12}".prop_map(Json::from),
            proptest::collection::vec(any::<f64>().prop_map(Json::from), 0..3).prop_map(Json::from),
        ]
    }

    /// Plain ASCII, as freshet writes, or any text at all: quotes, backslashes, control
    /// characters, other scripts.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9_:.-]{0,24}",
            ".{0,24}",
            "[\"\\\\\u{0}-\u{1f}a]{0,8}"
        ]
    }

    fn status() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just("PRESENT"),
            Just("NULL_VALUE"),
            Just("NOT_FOUND"),
            Just("OUTSIDE_MAX_AGE")
        ]
    }

    fn answer() -> impl Strategy<Value = OnlineFeatures> {
        (1usize..4, 0usize..5).prop_flat_map(|(entities, columns)| {
            let column = (
                proptest::collection::vec(value(), entities),
                proptest::collection::vec(status(), entities),
                proptest::collection::vec(text(), entities),
            )
                .prop_map(|(values, statuses, event_timestamps)| Column {
                    values,
                    statuses,
                    event_timestamps: event_timestamps.into(),
                });
            (
                proptest::collection::vec(text(), columns),
                proptest::collection::vec(column, columns),
            )
                .prop_map(|(feature_names, results)| OnlineFeatures {
                    metadata: Metadata { feature_names },
                    results,
                    newest: Vec::new(),
                })
        })
    }

    proptest! {
        /// The hand-written bytes are serde_json's, whatever the text and values.
        #[test]
        fn written_as_serde_json_writes_it(answer in answer()) {
            let expected = serde_json::to_vec(&answer).unwrap();
            prop_assert_eq!(
                String::from_utf8(to_json(&answer)).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }

    #[test]
    fn a_lookup_of_fifty_features_fits_the_first_buffer() {
        let column = Column {
            values: vec![Json::from(1234.5678)],
            statuses: vec!["PRESENT"],
            event_timestamps: vec!["2026-01-01T00:30:00.250Z".to_owned()].into(),
        };
        let answer = OnlineFeatures {
            metadata: Metadata {
                feature_names: (0..51).map(|i| format!("trips__fare_sum_{i}h")).collect(),
            },
            results: vec![column; 51],
            newest: Vec::new(),
        };
        let estimate = estimated_len(&answer);
        let written = to_json(&answer).len();
        assert!(
            written <= estimate && estimate < written * 2,
            "{written} bytes against {estimate} estimated"
        );
    }
}
