//! The spine of `--at` (batch scoring): every entity with an event at or before an instant, one row
//! each, sorted by key, all timed at that instant.

use super::TrainingError;
use crate::spine::Spine;
use crate::views::{ServiceView, ViewEvents};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use freshet_engine::{EntityKey, KeyPart};
use std::path::PathBuf;
use std::sync::Arc;

/// The timestamp column of an `--at` spine.
pub(super) const AT_COLUMN: &str = "event_timestamp";

/// The spine of `--at`: every entity with an event at or before `at`, one row each, sorted by key.
pub(super) fn every_entity(
    views: &[ServiceView],
    events: &[ViewEvents],
    at: i64,
) -> Result<Spine, TrainingError> {
    let join_keys = &views[0].join_keys;
    if let Some(other) = views.iter().find(|v| &v.join_keys != join_keys) {
        return Err(TrainingError::MixedEntities {
            first: views[0].name.clone(),
            other: other.name.clone(),
        });
    }
    let mut keys: Vec<EntityKey> = events
        .iter()
        .flatten()
        .flatten()
        .flat_map(|batch| batch.keys().zip(batch.orders()))
        .filter(|(_, order)| order.event_time <= at)
        .map(|(key, _)| key)
        .collect();
    keys.sort();
    keys.dedup();
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (i, (name, data_type)) in join_keys.iter().enumerate() {
        let values: Vec<freshet_engine::Value> = keys
            .iter()
            .map(|k| match k.parts().get(i) {
                Some(KeyPart::Int(x)) => freshet_engine::Value::Int64(*x),
                Some(KeyPart::Str(s)) => freshet_engine::Value::String(s.clone()),
                None => freshet_engine::Value::Null,
            })
            .collect();
        fields.push(Field::new(
            name,
            crate::columns::arrow_type(*data_type),
            false,
        ));
        arrays.push(crate::columns::scalar_array(*data_type, values.iter()));
    }
    let times = vec![freshet_engine::Value::Timestamp(freshet_engine::Timestamp(at)); keys.len()];
    fields.push(Field::new(
        AT_COLUMN,
        crate::columns::arrow_type(freshet_engine::DataType::Timestamp),
        false,
    ));
    arrays.push(crate::columns::scalar_array(
        freshet_engine::DataType::Timestamp,
        times.iter(),
    ));
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| TrainingError::Write {
        path: PathBuf::from("--at"),
        reason: e.to_string(),
    })?;
    Ok(Spine {
        path: PathBuf::from("--at"),
        batches: vec![batch],
        schema,
    })
}
