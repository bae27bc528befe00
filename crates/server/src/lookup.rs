//! Online feature lookup: entity keys in, Feast's column-major answer out.
//!
//! For each view a request touches, the entities' records are read from the online store in one batch,
//! and the engine answers as of `now` from each record (so windows decay with no new event) with no
//! knowledge cutoff beyond what the store holds. The join keys come first in the answer, as in Feast's
//! server, each with status `PRESENT`; each feature then has a value, a status (`PRESENT`, `NULL_VALUE`,
//! `NOT_FOUND`, `OUTSIDE_MAX_AGE`) and the event time of the entity's newest event in the view.

use crate::catalog::{Catalog, FeatureRef};
use crate::error::ApiError;
use freshet_engine::{
    DataType, EntityKey, FeatureStatus, FeatureValue, KeyPart, RecordError, ViewRow,
};
use freshet_online::OnlineStore;
use freshet_sources::formats::json_value;
use serde::Serialize;
use serde_json::Value as Json;
use std::sync::Arc;

/// The answer, in Feast's shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnlineFeatures {
    /// `{"feature_names": [...]}`: join keys, then features.
    pub metadata: Metadata,
    /// One column per name.
    pub results: Vec<Column>,
}

/// Column names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metadata {
    /// Join keys, then features (`feature` or `view__feature`).
    pub feature_names: Vec<String>,
}

/// One column: a value, a status and an event time per entity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    /// Values, one per entity.
    pub values: Vec<Json>,
    /// `PRESENT`, `NULL_VALUE`, `NOT_FOUND` or `OUTSIDE_MAX_AGE`.
    pub statuses: Vec<&'static str>,
    /// RFC 3339 event time of the newest event counted (`1970-01-01T00:00:00Z` when none): per
    /// entity, the newest of its view's events, so the columns of one view share one list.
    pub event_timestamps: Arc<[String]>,
}

pub(crate) const EPOCH: &str = "1970-01-01T00:00:00Z";

/// Feast's name of a feature status.
pub(crate) fn status_name(s: FeatureStatus) -> &'static str {
    match s {
        FeatureStatus::Present => "PRESENT",
        FeatureStatus::NullValue => "NULL_VALUE",
        FeatureStatus::NotFound => "NOT_FOUND",
        FeatureStatus::OutsideMaxAge => "OUTSIDE_MAX_AGE",
    }
}

/// RFC 3339 in UTC, e.g. `2026-01-01T00:00:00.250Z` (microseconds when present).
pub fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).map_or_else(
        || EPOCH.to_owned(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    )
}

fn feature_json(v: &FeatureValue) -> Json {
    match v {
        FeatureValue::Scalar(v) => json_value(v),
        FeatureValue::List(items) => Json::Array(items.iter().map(json_value).collect()),
    }
}

/// The request's entity columns, checked: equal lengths, at least one row.
pub fn entity_rows(entities: &serde_json::Map<String, Json>) -> Result<usize, ApiError> {
    let mut rows = None;
    for (name, column) in entities {
        let Json::Array(values) = column else {
            return Err(ApiError::bad_request(
                "invalid_entities",
                format!("entities.{name}: expected a list of values, e.g. [1001, 1002]"),
            ));
        };
        match rows {
            None => rows = Some((name, values.len())),
            Some((first, n)) if n != values.len() => {
                return Err(ApiError::bad_request(
                    "invalid_entities",
                    format!(
                        "entities.{name} has {} values but entities.{first} has {n}; give every join key one value per entity",
                        values.len()
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    match rows {
        Some((_, n)) if n > 0 => Ok(n),
        _ => Err(ApiError::bad_request(
            "invalid_entities",
            "entities: give at least one join key with at least one value, e.g. {\"driver_id\": [1001]}",
        )),
    }
}

fn key_part(name: &str, i: usize, v: &Json, data_type: DataType) -> Result<KeyPart, ApiError> {
    let bad = |expected: &str| {
        ApiError::bad_request(
            "invalid_entity_key",
            format!("entities.{name}[{i}]: expected {expected}, found {v}"),
        )
    };
    match data_type {
        DataType::Int64 => v
            .as_i64()
            .map(KeyPart::Int)
            .ok_or_else(|| bad("an integer")),
        _ => v
            .as_str()
            .map(|s| KeyPart::Str(s.into()))
            .ok_or_else(|| bad("a string")),
    }
}

/// Each row's key for view `view`, from the request's entity columns.
fn view_keys(
    catalog: &Catalog,
    view: usize,
    entities: &serde_json::Map<String, Json>,
    rows: usize,
) -> Result<Vec<EntityKey>, ApiError> {
    let served = &catalog.views[view];
    let mut columns = Vec::with_capacity(served.join_keys.len());
    for (name, data_type) in &served.join_keys {
        let Some(Json::Array(values)) = entities.get(name) else {
            return Err(ApiError::bad_request(
                "missing_join_key",
                format!(
                    "entities: missing join key `{name}`, needed by feature view `{}`",
                    served.name
                ),
            ));
        };
        let parts = values
            .iter()
            .enumerate()
            .map(|(i, v)| key_part(name, i, v, *data_type))
            .collect::<Result<Vec<_>, _>>()?;
        columns.push(parts);
    }
    Ok((0..rows)
        .map(|r| match columns.as_slice() {
            [one] => EntityKey::Single(one[r].clone()),
            many => EntityKey::from_parts(many.iter().map(|c| c[r].clone()).collect()),
        })
        .collect())
}

/// What the store holds for a request: the views it touches and, per view, each entity's row.
#[derive(Debug, Clone)]
pub struct ViewAnswers {
    /// Catalog indexes of the views read, ascending.
    pub views: Vec<usize>,
    /// Per view read, one row per entity.
    pub rows: Vec<Vec<ViewRow>>,
}

impl ViewAnswers {
    /// The answer rows of catalog view `view`, if it was read.
    pub fn of(&self, view: usize) -> Option<&[ViewRow]> {
        Some(&self.rows[self.slot(view)?])
    }

    /// Where catalog view `view` is in [`ViewAnswers::views`] and [`ViewAnswers::rows`].
    pub fn slot(&self, view: usize) -> Option<usize> {
        self.views.iter().position(|&v| v == view)
    }

    /// Per view read that answered any entity, its name and the newest event time among the
    /// entities (for the freshness metric).
    pub fn newest<'a>(&'a self, catalog: &'a Catalog) -> impl Iterator<Item = (&'a str, i64)> + 'a {
        self.views.iter().zip(&self.rows).filter_map(|(&v, rows)| {
            let newest = rows.iter().filter_map(|r| r.newest_event_time).max()?;
            Some((catalog.views[v].name.as_str(), newest))
        })
    }
}

/// Reads the views of `refs` for the request's entities and answers them as of `now`: the rows both
/// the Feast lookup and predictions are made from. Keys are checked for every view before any I/O.
pub async fn read_views(
    catalog: &Catalog,
    store: &OnlineStore,
    refs: &[FeatureRef],
    entities: &serde_json::Map<String, Json>,
    now: i64,
) -> Result<ViewAnswers, ApiError> {
    let rows = entity_rows(entities)?;
    let mut views: Vec<usize> = refs.iter().map(|r| r.view).collect();
    views.sort_unstable();
    views.dedup();
    let keys: Vec<Vec<EntityKey>> = views
        .iter()
        .map(|&v| view_keys(catalog, v, entities, rows))
        .collect::<Result<_, _>>()?;
    let mut answers: Vec<Vec<ViewRow>> = Vec::with_capacity(views.len());
    for (&v, keys) in views.iter().zip(&keys) {
        let served = &catalog.views[v];
        let records = store
            .read(&served.name, keys)
            .await
            .map_err(|e| ApiError::unavailable(e.to_string()))?;
        let rows = records
            .iter()
            .map(|r| served.reader.read(r.as_deref(), now, i64::MAX))
            .collect::<Result<Vec<_>, RecordError>>()
            .map_err(|e| ApiError::internal("stored_state_unusable", e.to_string()))?;
        answers.push(rows);
    }
    Ok(ViewAnswers {
        views,
        rows: answers,
    })
}

/// Looks up `refs` for the request's entities as of `now` (microseconds), as [`answer`] shapes it.
pub async fn lookup(
    catalog: &Catalog,
    store: &OnlineStore,
    refs: &[FeatureRef],
    entities: &serde_json::Map<String, Json>,
    full_feature_names: bool,
    now: i64,
) -> Result<OnlineFeatures, ApiError> {
    let read = read_views(catalog, store, refs, entities, now).await?;
    Ok(answer(catalog, refs, entities, &read, full_feature_names))
}

/// Feast's answer to a lookup of `refs` from what [`read_views`] read for `entities`. The server
/// writes the same answer as JSON straight from `read` ([`crate::feast_json::lookup_json`]); this
/// shape is the reference that writer is tested against, and what `freshet get` prints.
pub fn answer(
    catalog: &Catalog,
    refs: &[FeatureRef],
    entities: &serde_json::Map<String, Json>,
    read: &ViewAnswers,
    full_feature_names: bool,
) -> OnlineFeatures {
    // Per view and row: the newest event's time, formatted once for all the view's features.
    let times: Vec<Arc<[String]>> = read
        .rows
        .iter()
        .map(|rows| {
            rows.iter()
                .map(|row| event_time(row).into_owned())
                .collect()
        })
        .collect();
    let mut names: Vec<String> = entities.keys().cloned().collect();
    let rows = request_rows(entities);
    let keys_time: Arc<[String]> = vec![EPOCH.to_owned(); rows].into();
    let mut results: Vec<Column> = entities
        .values()
        .map(|column| {
            let values = column.as_array().cloned().unwrap_or_default();
            Column {
                statuses: vec![status_name(FeatureStatus::Present); values.len()],
                event_timestamps: keys_time.clone(),
                values,
            }
        })
        .collect();
    for r in refs {
        names.push(
            catalog.views[r.view]
                .column_name(r.feature, full_feature_names)
                .to_owned(),
        );
        let Some(slot) = read.slot(r.view) else {
            continue;
        };
        let rows = &read.rows[slot];
        results.push(Column {
            values: rows
                .iter()
                .map(|row| feature_json(&row.values[r.feature]))
                .collect(),
            statuses: rows
                .iter()
                .map(|row| status_name(row.statuses[r.feature]))
                .collect(),
            event_timestamps: times[slot].clone(),
        });
    }
    OnlineFeatures {
        metadata: Metadata {
            feature_names: names,
        },
        results,
    }
}

/// How many entities a request names: the length of its join-key columns (`entity_rows` checked that
/// they are equal).
pub(crate) fn request_rows(entities: &serde_json::Map<String, Json>) -> usize {
    entities
        .values()
        .next()
        .and_then(Json::as_array)
        .map_or(0, Vec::len)
}

/// The event time a row's features are answered with: its newest event's, or the epoch if none.
pub(crate) fn event_time(row: &ViewRow) -> std::borrow::Cow<'static, str> {
    row.newest_event_time
        .map_or(std::borrow::Cow::Borrowed(EPOCH), |t| rfc3339(t).into())
}
