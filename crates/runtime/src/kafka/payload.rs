//! A Kafka record's payload turned into an event on the poll thread, or refused with the reason its
//! dead letter will carry: no payload or one too large, not decodable, no event time or one too far
//! ahead of the record's timestamp, a row one of the source's views refuses, or a record key that is
//! not the payload's join key. Decoding here, before the record is handed to its partition's task,
//! keeps the loop that applies events free of parsing.

use crate::dead_letters::Refused;
use crate::task::WATERMARK_LAG;
use freshet_engine::{Timestamp, Value, ViewDef};
use freshet_kafka::consumer::RawRecord;
use freshet_project::Project;
use freshet_project::spec::{Connector, EventTimeFrom, SourceSpec};
use freshet_sources::decode::RowDecoder;

/// Payloads larger than this are refused: one event is a few hundred bytes, so a megabyte is a
/// producer bug, and holding many of them would defeat the bounded buffers.
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;

/// An event decoded on the poll thread.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub(super) row: Vec<Value>,
    pub(super) event_time: i64,
    pub(super) ingest_time: i64,
}

pub(super) type Decoded = Result<Incoming, Refused>;

/// Turns a record into an event, or says why it cannot be one.
#[derive(Debug)]
pub(crate) struct PayloadDecoder {
    rows: RowDecoder,
    time_column: usize,
    time_field: String,
    key_column: Option<(usize, String)>,
    event_time: EventTimeFrom,
    views: Vec<ViewDef>,
}

impl PayloadDecoder {
    pub(crate) fn new(project: &Project, source: &SourceSpec) -> PayloadDecoder {
        let column = |name: &str| source.schema.iter().position(|f| f.name == name);
        let (key, event_time) = match &source.connector {
            Connector::Kafka {
                key, event_time, ..
            } => (key.clone(), *event_time),
            _ => (None, EventTimeFrom::Field),
        };
        PayloadDecoder {
            rows: RowDecoder::for_source(source),
            time_column: column(&source.timestamp_field).unwrap_or(0),
            time_field: source.timestamp_field.clone(),
            key_column: key.and_then(|k| column(&k).map(|c| (c, k))),
            event_time,
            views: project
                .spec
                .feature_views
                .iter()
                .zip(&project.views)
                .filter(|(spec, _)| spec.source == source.name)
                .map(|(_, v)| v.def.clone())
                .collect(),
        }
    }

    pub(crate) fn decode(&self, raw: RawRecord<'_>) -> Decoded {
        let payload = raw.payload.unwrap_or_default();
        let refuse = |field: Option<&str>, reason: String| Refused {
            reason,
            field: field.map(str::to_owned),
            key: raw.key.map(<[u8]>::to_vec),
            payload: payload.to_vec(),
            timestamp_millis: raw.timestamp_millis,
        };
        if raw.payload.is_none() {
            return Err(refuse(None, "the record has no payload".into()));
        }
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(refuse(
                None,
                format!(
                    "the payload is {} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit; send one event per record",
                    payload.len()
                ),
            ));
        }
        let mut row = self.rows.json_object(payload).map_err(|e| {
            let help = e
                .help
                .as_deref()
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            refuse(e.field.as_deref(), format!("{}{help}", e.reason))
        })?;
        let record_time = raw.timestamp_millis.filter(|t| *t >= 0).map(|t| t * 1_000);
        if self.event_time == EventTimeFrom::Record {
            let Some(t) = record_time else {
                return Err(refuse(None, "the record has no timestamp; send one, or read the event time from a field (`event_time: field`)".into()));
            };
            row[self.time_column] = Value::Timestamp(Timestamp(t));
        }
        let event_time = match &row[self.time_column] {
            Value::Timestamp(t) => t.micros(),
            _ => {
                return Err(refuse(
                    Some(&self.time_field),
                    format!("the event time `{}` is missing", self.time_field),
                ));
            }
        };
        let ingest_time = record_time.unwrap_or(event_time);
        if event_time > ingest_time.saturating_add(WATERMARK_LAG) {
            return Err(refuse(
                Some(&self.time_field),
                format!(
                    "the event time {} is more than 5 minutes after the record's timestamp {}; fix the producer's clock or the field",
                    freshet_sources::formats::format_timestamp(event_time),
                    freshet_sources::formats::format_timestamp(ingest_time),
                ),
            ));
        }
        for view in &self.views {
            view.check(&row)
                .map_err(|e| refuse(None, format!("view `{}`: {e}", view.name)))?;
        }
        if let Some((column, name)) = &self.key_column {
            let expected = key_text(&row[*column]);
            if raw.key.is_none() || raw.key.map(<[u8]>::to_vec) != expected.map(String::into_bytes)
            {
                return Err(refuse(
                    Some(name),
                    format!(
                        "the record key {} is not the value of `{name}`; produce records keyed by `{name}`, so each entity's events share a partition",
                        raw.key.map_or_else(
                            || "(none)".to_owned(),
                            |k| format!("`{}`", String::from_utf8_lossy(k))
                        )
                    ),
                ));
            }
        }
        Ok(Incoming {
            row,
            event_time,
            ingest_time: ingest_time.max(event_time),
        })
    }
}

/// A key value as producers write it into the record key.
fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::Int64(i) => Some(i.to_string()),
        Value::String(s) => Some(s.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
