//! `POST /push`, Feast-compatible: events pushed to a `push` source go through the same engine path as
//! any source, and a lookup that follows a 200 sees them.
//!
//! Request: `{"push_source_name": "trips", "df": {"driver_id": [1001], "event_time": ["..."], ...},
//! "to": "online" | "offline" | "online_and_offline"}` (`online` by default). Every row is decoded with
//! the source's schema and timestamp rules, and checked by each feature view the source feeds; one bad
//! row refuses the whole request (400 naming the row and field), so nothing is half-applied.
//!
//! - **Ingest time** is the server's clock at acceptance; each event gets a random 63-bit position, so
//!   events pushed through different servers never collide in the canonical order.
//! - **Offline**: the rows are appended to the source's event log in one atomic commit.
//! - **Online**: for each view, each entity's record is read, the entity's new events are applied by
//!   the engine, and the record is written back by compare-and-swap; a concurrent writer makes the
//!   swap fail, and the entity is read and applied again, so no pushed event is ever lost.

use crate::app::AppState;
use crate::error::ApiError;
use freshet_engine::{EntityKey, Timestamp, Value, ViewDef, ViewState};
use freshet_offline::{LogRows, SourceLog};
use freshet_project::spec::{Connector, SourceSpec};
use freshet_sources::decode::RowDecoder;
use serde::Deserialize;
use std::collections::HashMap;
use tokio::sync::Mutex;

/// Attempts at one entity's compare-and-swap before answering 503.
const SWAP_ATTEMPTS: usize = 32;

/// Where pushed events go.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PushTo {
    /// The online store only.
    #[default]
    Online,
    /// The event log only.
    Offline,
    /// Both.
    OnlineAndOffline,
}

/// The request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    push_source_name: String,
    df: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    to: PushTo,
    /// Accepted for Feast compatibility (Feast's client sends it); freshet always validates.
    #[serde(default)]
    #[allow(dead_code)]
    allow_registry_cache: Option<bool>,
}

/// What `/push` needs beyond the lookup state: the project's push sources, the views each feeds, and
/// the event logs, opened on first use.
#[derive(Debug)]
pub struct PushTargets {
    sources: HashMap<String, (SourceSpec, RowDecoder, Vec<ViewDef>)>,
    logs: Mutex<HashMap<String, SourceLog>>,
    offline_root: std::path::PathBuf,
}

impl PushTargets {
    /// The push sources of `project`.
    pub fn new(project: &freshet_project::Project) -> PushTargets {
        let sources = project
            .spec
            .sources
            .iter()
            .filter(|s| matches!(s.connector, Connector::Push))
            .map(|s| {
                let views = freshet_offline::views_of_source(project, &s.name);
                (
                    s.name.clone(),
                    (s.clone(), RowDecoder::for_source(s), views),
                )
            })
            .collect();
        PushTargets {
            sources,
            logs: Mutex::new(HashMap::new()),
            offline_root: freshet_offline::offline_root(project),
        }
    }
}

/// The decoded rows of a request's `df`, checked against the source and its views.
fn decode_rows(
    source: &SourceSpec,
    decoder: &RowDecoder,
    views: &[ViewDef],
    df: &serde_json::Map<String, serde_json::Value>,
    max_rows: usize,
) -> Result<Vec<Vec<Value>>, ApiError> {
    let mut rows = None;
    for (name, column) in df {
        if source.field(name).is_none() {
            let names: Vec<&str> = source.schema.iter().map(|f| f.name.as_str()).collect();
            return Err(ApiError::bad_request(
                "unknown_column",
                format!(
                    "df.{name}: source `{}` has no column `{name}` (it has: {})",
                    source.name,
                    names.join(", ")
                ),
            ));
        }
        let serde_json::Value::Array(values) = column else {
            return Err(ApiError::bad_request(
                "invalid_df",
                format!("df.{name}: expected a list of values, one per row"),
            ));
        };
        match rows {
            None => rows = Some((name.clone(), values.len())),
            Some((ref first, n)) if n != values.len() => {
                return Err(ApiError::bad_request(
                    "invalid_df",
                    format!(
                        "df.{name} has {} values but df.{first} has {n}",
                        values.len()
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    let count = rows.map_or(0, |r| r.1);
    if count == 0 {
        return Err(ApiError::bad_request(
            "invalid_df",
            "df: give each column as a list with at least one value",
        ));
    }
    if count > max_rows {
        return Err(ApiError::too_large(
            "too_many_rows",
            format!("{count} rows pushed; the limit is {max_rows}"),
        ));
    }
    let time_column = source
        .schema
        .iter()
        .position(|f| f.name == source.timestamp_field)
        .unwrap_or(usize::MAX);
    (0..count)
        .map(|r| {
            let object: serde_json::Map<String, serde_json::Value> = df
                .iter()
                .map(|(name, column)| (name.clone(), column[r].clone()))
                .collect();
            let row = decoder.json_map(&object).map_err(|e| {
                let field = e.field.as_deref().unwrap_or("(row)");
                let help = e
                    .help
                    .as_deref()
                    .map_or(String::new(), |h| format!("; {h}"));
                ApiError::bad_request(
                    "invalid_value",
                    format!("df.{field}[{r}]: {}{help}", e.reason),
                )
            })?;
            if !matches!(row.get(time_column), Some(Value::Timestamp(_))) {
                return Err(ApiError::bad_request(
                    "invalid_value",
                    format!(
                        "df.{}[{r}]: the event time is missing",
                        source.timestamp_field
                    ),
                ));
            }
            for view in views {
                view.check(&row).map_err(|e| {
                    ApiError::bad_request(
                        "invalid_value",
                        format!("df row {r}: {e} (needed by feature view `{}`)", view.name),
                    )
                })?;
            }
            Ok(row)
        })
        .collect()
}

/// A random position below 2^63, so it also fits the event log's int64 column.
fn random_position() -> u64 {
    rand::random::<u64>() >> 1
}

/// Applies a push; returns the number of events accepted.
pub async fn push(
    state: &AppState,
    targets: &PushTargets,
    request: PushRequest,
) -> Result<usize, ApiError> {
    let Some((source, decoder, views)) = targets.sources.get(&request.push_source_name) else {
        let names: Vec<&str> = targets.sources.keys().map(String::as_str).collect();
        return Err(ApiError::bad_request(
            "unknown_push_source",
            format!(
                "push_source_name: unknown push source `{}` (push sources: {})",
                request.push_source_name,
                if names.is_empty() {
                    "none; declare a source with `type: push`".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        ));
    };
    let rows = decode_rows(
        source,
        decoder,
        views,
        &request.df,
        state.config.limits.max_entities,
    )?;
    let ingest_time = state.config.clock.now();
    let positions: Vec<u64> = rows.iter().map(|_| random_position()).collect();
    if matches!(request.to, PushTo::Offline | PushTo::OnlineAndOffline) {
        append_offline(targets, source, &rows, ingest_time, &positions).await?;
    }
    if matches!(request.to, PushTo::Online | PushTo::OnlineAndOffline) {
        for view in views {
            apply_online(state, view, &rows, ingest_time, &positions).await?;
        }
    }
    Ok(rows.len())
}

async fn append_offline(
    targets: &PushTargets,
    source: &SourceSpec,
    rows: &[Vec<Value>],
    ingest_time: i64,
    positions: &[u64],
) -> Result<(), ApiError> {
    let mut logs = targets.logs.lock().await;
    if !logs.contains_key(&source.name) {
        let log = SourceLog::open(
            &targets.offline_root,
            &source.name,
            &source.schema,
            &source.timestamp_field,
        )
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
        logs.insert(source.name.clone(), log);
    }
    let Some(log) = logs.get_mut(&source.name) else {
        return Err(ApiError::internal(
            "event_log",
            "the event log could not be opened",
        ));
    };
    let mut batch = LogRows::default();
    for (row, position) in rows.iter().zip(positions) {
        batch.push(row.clone(), ingest_time, *position);
    }
    log.append(&batch, Vec::new())
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(())
}

/// Applies the rows of one view entity by entity: read, apply, compare-and-swap, retry on conflict.
async fn apply_online(
    state: &AppState,
    def: &ViewDef,
    rows: &[Vec<Value>],
    ingest_time: i64,
    positions: &[u64],
) -> Result<(), ApiError> {
    let mut by_entity: HashMap<EntityKey, Vec<usize>> = HashMap::new();
    let mut preparer = def.preparer();
    for (i, row) in rows.iter().enumerate() {
        // Rows the view's filter rejects do not touch it.
        if let Ok(Some(event)) = preparer.prepare(row, Timestamp(ingest_time), positions[i]) {
            by_entity.entry(event.key).or_default().push(i);
        }
    }
    let store = &state.store;
    for (entity, indexes) in by_entity {
        let mut applied = false;
        for _ in 0..SWAP_ATTEMPTS {
            let stored = store
                .read(&def.name, std::slice::from_ref(&entity))
                .await
                .map_err(|e| ApiError::unavailable(e.to_string()))?;
            let current = stored.into_iter().next().flatten();
            let mut view = ViewState::new(def.clone());
            if let Some(record) = &current {
                view.load_entity_record(entity.clone(), record)
                    .map_err(|e| ApiError::internal("stored_state_unusable", e.to_string()))?;
            }
            for &i in &indexes {
                view.ingest(&rows[i], Timestamp(ingest_time), positions[i])
                    .map_err(|e| {
                        ApiError::bad_request("invalid_value", format!("df row {i}: {e}"))
                    })?;
            }
            let Some(record) = view.entity_record(&entity) else {
                applied = true;
                break;
            };
            if store
                .compare_and_swap(&def.name, &entity, current.as_deref(), &record)
                .await
                .map_err(|e| ApiError::unavailable(e.to_string()))?
            {
                applied = true;
                break;
            }
        }
        if !applied {
            return Err(ApiError::unavailable(format!(
                "entity {entity} of view `{}` is being written by others; retry the push",
                def.name
            )));
        }
    }
    Ok(())
}
