//! Feast's column-major answer written as JSON bytes by hand, straight from what the store read.
//!
//! A 50-feature lookup answers with 50 columns, each with a value, a status and an event time per
//! entity. Built as [`OnlineFeatures`] first, each answer took two vectors per column, a
//! `serde_json::Value` per value and a reference count per column, all freed again once written;
//! and written through serde, each status and time was scanned for characters to escape. On B1r's
//! profile (docs/benchmarks.md) that building, freeing and scanning was about a fifth of the
//! server's own CPU. So the answer is written here from the engine's rows: names come quoted from
//! the catalog, statuses are constants, each view's event times are written once and copied into
//! each of its columns, and values go straight to text. The bytes are exactly those of
//! `serde_json::to_vec` of [`answer`] (a property test holds the two together), which stays the
//! reference and what `freshet get` prints.

use crate::catalog::{Catalog, FeatureRef};
use crate::lookup::{EPOCH, ViewAnswers, event_time, request_rows, status_name};
use freshet_engine::{FeatureStatus, FeatureValue, Value};
use serde_json::Value as Json;

#[cfg(doc)]
use crate::lookup::{OnlineFeatures, answer};

/// The JSON of [`answer`] for the same arguments, byte for byte what `serde_json::to_vec` of it gives.
pub fn lookup_json(
    catalog: &Catalog,
    refs: &[FeatureRef],
    entities: &serde_json::Map<String, Json>,
    read: &ViewAnswers,
    full_feature_names: bool,
) -> Vec<u8> {
    let rows = request_rows(entities);
    let closes = Closes {
        keys: column_close(std::iter::repeat_n(EPOCH.into(), rows)),
        views: read
            .rows
            .iter()
            .map(|rows| column_close(rows.iter().map(event_time)))
            .collect(),
    };
    let columns = entities.len() + refs.len();
    let mut out = Vec::with_capacity(estimated_len(columns, rows, &closes.views));
    out.extend_from_slice(b"{\"metadata\":{\"feature_names\":");
    let names = (entities.keys().map(|k| Name::Text(k))).chain(refs.iter().map(|r| {
        Name::Quoted(catalog.views[r.view].json_column_name(r.feature, full_feature_names))
    }));
    list(&mut out, names, |out, name| match name {
        Name::Text(name) => text(out, name),
        Name::Quoted(name) => out.extend_from_slice(name),
    });
    out.extend_from_slice(b"},\"results\":");
    let columns = (entities.values().map(Column::Key)).chain(
        refs.iter()
            .filter_map(|r| Some(Column::Feature(read.slot(r.view)?, r.feature))),
    );
    list(&mut out, columns, |out, column| {
        write_column(out, column, rows, read, &closes);
    });
    out.push(b'}');
    out
}

/// A column name: a join key's from the request, or a feature's, quoted by the catalog.
enum Name<'a> {
    Text(&'a str),
    Quoted(&'a [u8]),
}

/// A column of the answer: a join key's values from the request, or a feature of a view read
/// (its slot in [`ViewAnswers::rows`] and its index in the view).
enum Column<'a> {
    Key(&'a Json),
    Feature(usize, usize),
}

/// `,"event_timestamps":[...]}`, which ends every column: the join keys' (the epoch for each entity)
/// and each view's, written once and copied into each of its columns.
struct Closes {
    keys: Vec<u8>,
    views: Vec<Vec<u8>>,
}

fn column_close(times: impl Iterator<Item = std::borrow::Cow<'static, str>>) -> Vec<u8> {
    let mut out = b",\"event_timestamps\":".to_vec();
    list(&mut out, times, |out, time| text(out, &time));
    out.push(b'}');
    out
}

/// One column of `rows` entities as `{"values":[...],"statuses":[...],"event_timestamps":[...]}`.
fn write_column(
    out: &mut Vec<u8>,
    column: Column<'_>,
    rows: usize,
    read: &ViewAnswers,
    closes: &Closes,
) {
    out.extend_from_slice(b"{\"values\":");
    match column {
        Column::Key(values) => {
            json(out, values);
            out.extend_from_slice(b",\"statuses\":");
            list(out, 0..rows, |out, _| status(out, FeatureStatus::Present));
            out.extend_from_slice(&closes.keys);
        }
        Column::Feature(slot, feature) => {
            let rows = &read.rows[slot];
            list(out, rows, |out, row| {
                feature_value(out, &row.values[feature])
            });
            out.extend_from_slice(b",\"statuses\":");
            list(out, rows, |out, row| status(out, row.statuses[feature]));
            out.extend_from_slice(&closes.views[slot]);
        }
    }
}

/// A feature status as a JSON string: Feast's name of it ([`status_name`]), which needs no escaping.
fn status(out: &mut Vec<u8>, s: FeatureStatus) {
    out.push(b'"');
    out.extend_from_slice(status_name(s).as_bytes());
    out.push(b'"');
}

/// A feature's value as `freshet_sources::formats::json_value` would make it, written.
fn feature_value(out: &mut Vec<u8>, v: &FeatureValue) {
    match v {
        FeatureValue::Scalar(v) => scalar(out, v),
        FeatureValue::List(items) => list(out, items, scalar),
    }
}

fn scalar(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int64(i) => json(out, i),
        // serde_json writes a non-finite float as `null`, as `json_value` maps it.
        Value::Float64(f) => json(out, f),
        Value::String(s) => text(out, s),
        Value::Timestamp(t) => text(out, &freshet_sources::formats::format_timestamp(t.micros())),
    }
}

/// About how long an answer of `columns` columns of `rows` entities is, given each view's closing
/// bytes: exact for everything but values (a float's digits are a guess), so the buffer seldom grows.
fn estimated_len(columns: usize, rows: usize, view_closes: &[Vec<u8>]) -> usize {
    let close = view_closes
        .iter()
        .map(Vec::len)
        .max()
        .unwrap_or(0)
        .max(24 + 25 * rows);
    64 + columns * (32 + 32 + rows * (20 + 14) + close)
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
    // Serializing a `serde_json::Value`, a number or a string into a vector cannot fail: a value's
    // map keys are strings, and a vector's writes always succeed. Were it to, `null` stands for the value.
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"null");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lookup::answer;
    use freshet_engine::{Timestamp, ViewRow};
    use proptest::prelude::*;

    fn catalog() -> Catalog {
        let file = freshet_project::SourceFile::new(
            "freshet.yaml".to_owned(),
            freshet_testkit::projects::RIDES.to_owned(),
        );
        let env = std::collections::HashMap::<String, String>::new();
        let (spec, views) = freshet_project::parse_project(file, &env).unwrap();
        Catalog::new(&freshet_project::Project {
            dir: std::path::PathBuf::from("."),
            spec,
            views,
        })
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int64),
            any::<f64>().prop_map(Value::Float64),
            prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(-0.0)].prop_map(Value::Float64),
            text().prop_map(|s| Value::String(s.into())),
            (-10i64.pow(15)..10i64.pow(17)).prop_map(|t| Value::Timestamp(Timestamp(t))),
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

    fn status() -> impl Strategy<Value = FeatureStatus> {
        prop_oneof![
            Just(FeatureStatus::Present),
            Just(FeatureStatus::NullValue),
            Just(FeatureStatus::NotFound),
            Just(FeatureStatus::OutsideMaxAge)
        ]
    }

    fn row(features: usize) -> impl Strategy<Value = ViewRow> {
        let feature = prop_oneof![
            value().prop_map(FeatureValue::Scalar),
            proptest::collection::vec(value(), 0..3).prop_map(FeatureValue::List),
        ];
        (
            proptest::collection::vec(feature, features),
            proptest::collection::vec(status(), features),
            proptest::option::of(-10i64.pow(15)..10i64.pow(17)),
        )
            .prop_map(|(values, statuses, newest_event_time)| ViewRow {
                values,
                statuses,
                newest_event_time,
            })
    }

    /// A request's entity columns: join-key names (any text) with `rows` JSON values each.
    fn entities(rows: usize) -> impl Strategy<Value = serde_json::Map<String, Json>> {
        let key = prop_oneof![
            any::<i64>().prop_map(Json::from),
            text().prop_map(Json::from),
            Just(Json::Null)
        ];
        proptest::collection::btree_map(text(), proptest::collection::vec(key, rows), 1..3)
            .prop_map(|columns| {
                columns
                    .into_iter()
                    .map(|(k, v)| (k, Json::from(v)))
                    .collect()
            })
    }

    /// Refs into the catalog (any view and feature, repeats allowed), what the store read for them,
    /// and the request's entities.
    fn lookup() -> impl Strategy<
        Value = (
            Vec<FeatureRef>,
            ViewAnswers,
            serde_json::Map<String, Json>,
            bool,
        ),
    > {
        let sizes: Vec<usize> = catalog().views.iter().map(|v| v.features.len()).collect();
        let refs = proptest::collection::vec(
            (0..sizes.len()).prop_flat_map(move |view| {
                (Just(view), 0..sizes[view])
                    .prop_map(|(view, feature)| FeatureRef { view, feature })
            }),
            0..8,
        );
        (refs, 1usize..4).prop_flat_map(|(refs, rows)| {
            let mut views: Vec<usize> = refs.iter().map(|r| r.view).collect();
            views.sort_unstable();
            views.dedup();
            let catalog = catalog();
            let read: Vec<_> = views
                .iter()
                .map(|&v| proptest::collection::vec(row(catalog.views[v].features.len()), rows))
                .collect();
            (Just(refs), Just(views), read, entities(rows), any::<bool>()).prop_map(
                |(refs, views, rows, entities, full)| {
                    (refs, ViewAnswers { views, rows }, entities, full)
                },
            )
        })
    }

    proptest! {
        /// The answer written straight from the rows is serde_json's writing of `answer`, whatever
        /// the features asked, the values, statuses and times, and the text in the request.
        #[test]
        fn written_as_serde_json_writes_the_answer((refs, read, entities, full) in lookup()) {
            let catalog = catalog();
            let expected = serde_json::to_vec(&answer(&catalog, &refs, &entities, &read, full)).unwrap();
            let written = lookup_json(&catalog, &refs, &entities, &read, full);
            prop_assert_eq!(String::from_utf8(written).unwrap(), String::from_utf8(expected).unwrap());
        }
    }

    #[test]
    fn a_lookup_of_fifty_features_fits_the_first_buffer() {
        let catalog = catalog();
        let refs: Vec<FeatureRef> = (0..50)
            .map(|i| FeatureRef {
                view: i % 2,
                feature: 0,
            })
            .collect();
        let row = ViewRow {
            values: vec![FeatureValue::Scalar(Value::Float64(1234.5678)); 5],
            statuses: vec![FeatureStatus::Present; 5],
            newest_event_time: Some(1_767_227_400_250_000),
        };
        let read = ViewAnswers {
            views: vec![0, 1],
            rows: vec![vec![row.clone()], vec![row]],
        };
        let entities = serde_json::json!({"driver_id": [1001], "city": ["paris"], "zone_id": [7]});
        let written = lookup_json(&catalog, &refs, entities.as_object().unwrap(), &read, true);
        let estimate = estimated_len(53, 1, &[]);
        assert!(
            written.len() <= estimate && estimate < written.len() * 2,
            "{} bytes against {estimate} estimated",
            written.len()
        );
    }
}
