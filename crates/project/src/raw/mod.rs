//! The raw project: `freshet.yaml` read for shape only.
//!
//! Each section is decoded into a `Raw*` struct whose fields are spanned and optional: a field that is
//! missing or of the wrong shape has already been reported and is simply `None` here. Nothing semantic is
//! checked yet (names, references, types, durations); that is [`crate::validate`]'s job, which turns these
//! into the resolved [`crate::spec`] types. Keeping the two apart means each check has exactly one home.

mod decode;

pub(crate) use decode::{SOURCE_KINDS, decode};

use crate::diagnostic::At;
use crate::env::Templated;
use crate::yaml::Spanned;

/// A field as decoded: `None` when missing or of the wrong shape (already reported).
type S<T> = Option<Spanned<T>>;

/// The whole file.
#[derive(Debug, Default)]
pub(crate) struct RawProject {
    pub(crate) project: S<String>,
    pub(crate) online_store: Option<RawStore>,
    pub(crate) offline_store: Option<RawStore>,
    pub(crate) serving: Option<RawServing>,
    pub(crate) entities: Vec<RawEntity>,
    pub(crate) sources: Vec<RawSource>,
    pub(crate) feature_views: Vec<RawView>,
    pub(crate) feature_services: Vec<RawService>,
    pub(crate) models: Vec<RawModel>,
}

/// `serving`: how `freshet serve` listens and what it allows.
#[derive(Debug, Clone)]
pub(crate) struct RawServing {
    pub(crate) host: S<String>,
    pub(crate) port: S<i64>,
    pub(crate) max_body_bytes: S<i64>,
    pub(crate) max_entities: S<i64>,
    pub(crate) max_features: S<i64>,
    pub(crate) auth_tokens: S<Vec<Spanned<crate::env::Templated>>>,
    pub(crate) cors_origins: S<Vec<Spanned<String>>>,
}

/// `online_store` or `offline_store`.
#[derive(Debug)]
pub(crate) struct RawStore {
    pub(crate) at: At,
    /// Keys written in the file, so a value that failed to decode is not also reported as missing.
    pub(crate) present: Vec<&'static str>,
    pub(crate) kind: S<String>,
    pub(crate) path: S<Templated>,
    pub(crate) url: S<Templated>,
    pub(crate) urls: S<Vec<Spanned<Templated>>>,
}

#[derive(Debug)]
pub(crate) struct RawEntity {
    pub(crate) name: S<String>,
    pub(crate) join_keys: S<Vec<Spanned<String>>>,
    pub(crate) description: S<String>,
}

#[derive(Debug)]
pub(crate) struct RawSource {
    pub(crate) at: At,
    /// Keys written in the file, so a value that failed to decode is not also reported as missing.
    pub(crate) present: Vec<&'static str>,
    pub(crate) name: S<String>,
    pub(crate) kind: S<String>,
    pub(crate) description: S<String>,
    pub(crate) schema: S<Vec<(Spanned<String>, Spanned<String>)>>,
    pub(crate) timestamp_field: S<String>,
    pub(crate) timezone: S<String>,
    pub(crate) event_id_field: S<String>,
    pub(crate) ingest_time_field: S<String>,
    // Connector settings; which apply depends on `kind`, and the key check already rejected the others.
    pub(crate) brokers: S<Templated>,
    pub(crate) topic: S<Templated>,
    pub(crate) format: S<String>,
    pub(crate) group_id: S<Templated>,
    pub(crate) start_offset: S<String>,
    pub(crate) key: S<String>,
    pub(crate) event_time: S<String>,
    pub(crate) options: S<Vec<(Spanned<String>, Spanned<Templated>)>>,
    pub(crate) assignment: S<RawAssignment>,
    pub(crate) path: S<Templated>,
    pub(crate) every: S<String>,
    pub(crate) url: S<Templated>,
    pub(crate) table: S<Templated>,
    pub(crate) query: S<String>,
    pub(crate) slot: S<String>,
    pub(crate) publication: S<String>,
    pub(crate) scenario: S<String>,
    pub(crate) rate: S<f64>,
    pub(crate) entities: S<i64>,
    pub(crate) seed: S<i64>,
    pub(crate) speedup: S<f64>,
    pub(crate) history: S<String>,
}

/// A Kafka source's `assignment`: a name (`group`, `fixed`), or this worker's share.
#[derive(Debug)]
pub(crate) enum RawAssignment {
    Named(Spanned<String>),
    Share {
        worker: S<Templated>,
        workers: S<i64>,
        /// Keys written, so a value that failed to decode is not also reported as missing.
        present: Vec<&'static str>,
    },
}

#[derive(Debug)]
pub(crate) struct RawView {
    pub(crate) name: S<String>,
    pub(crate) version: S<i64>,
    pub(crate) description: S<String>,
    pub(crate) entities: S<Vec<Spanned<String>>>,
    pub(crate) source: S<String>,
    pub(crate) columns: Vec<RawDerivedColumn>,
    pub(crate) filter: S<String>,
    pub(crate) ttl: S<String>,
    pub(crate) features: S<Vec<RawFeature>>,
}

#[derive(Debug)]
pub(crate) struct RawDerivedColumn {
    pub(crate) name: S<String>,
    pub(crate) expr: S<String>,
}

#[derive(Debug)]
pub(crate) struct RawFeature {
    pub(crate) at: At,
    pub(crate) name: S<String>,
    pub(crate) aggregation: S<String>,
    pub(crate) column: S<String>,
    pub(crate) window: S<String>,
    pub(crate) n: S<i64>,
    pub(crate) description: S<String>,
}

#[derive(Debug)]
pub(crate) struct RawService {
    pub(crate) name: S<String>,
    pub(crate) description: S<String>,
    pub(crate) features: S<Vec<Spanned<String>>>,
}

#[derive(Debug)]
pub(crate) struct RawModel {
    pub(crate) at: At,
    pub(crate) name: S<String>,
    pub(crate) description: S<String>,
    pub(crate) feature_service: S<String>,
    pub(crate) label_source: S<String>,
    pub(crate) label_column: S<String>,
    pub(crate) task: S<String>,
    pub(crate) algorithm: S<String>,
    pub(crate) params: S<Vec<(Spanned<String>, Spanned<f64>)>>,
}
