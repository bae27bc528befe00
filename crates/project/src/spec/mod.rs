//! The resolved project: what `freshet.yaml` means once every name, type and expression has been checked.
//!
//! These types are plain data. They hold no spans and no compiled code, so the registry can store them as
//! JSON and compare two versions field by field. Expressions are kept as canonical SQL text (re-printed
//! from the parse tree, so whitespace and case of keywords never register as a change); their compiled
//! form lives in [`crate::CompiledView`], built from the same text by validation.

mod source;

pub use source::{
    Connector, EventTimeFrom, FileFormat, PartitionAssignment, PayloadFormat, PostgresRelation,
    SourceSpec, StartOffset, UtcOffset,
};

use crate::duration::Duration;
use crate::env::Templated;
use freshet_engine::{Aggregation, DataType, FeatureType};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A validated project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectSpec {
    /// The project's name.
    pub project: String,
    /// Where online values are served from.
    pub online_store: OnlineStoreSpec,
    /// Where the event log and training sets live.
    pub offline_store: OfflineStoreSpec,
    /// How the feature server listens and what it allows.
    #[serde(default)]
    pub serving: ServingSpec,
    /// Entities in declaration order.
    pub entities: Vec<EntitySpec>,
    /// Sources in declaration order.
    pub sources: Vec<SourceSpec>,
    /// Feature views in declaration order.
    pub feature_views: Vec<FeatureViewSpec>,
    /// Feature services in declaration order.
    pub feature_services: Vec<FeatureServiceSpec>,
    /// Models in declaration order.
    pub models: Vec<ModelSpec>,
}

/// The online store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OnlineStoreSpec {
    /// An embedded key-value store in a local directory (the default).
    Embedded {
        /// Directory, relative to the project.
        path: Templated,
    },
    /// A standalone Redis server.
    Redis {
        /// `redis://` URL.
        url: Templated,
    },
    /// A Redis Cluster, reached through any of its nodes.
    RedisCluster {
        /// Seed node URLs.
        urls: Vec<Templated>,
    },
}

/// `freshet serve`'s settings; command-line flags override them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServingSpec {
    /// Address to listen on.
    pub host: String,
    /// Port to listen on.
    pub port: u16,
    /// Largest request body in bytes.
    pub max_body_bytes: u64,
    /// Most entities (rows) per request.
    pub max_entities: u64,
    /// Most features per lookup.
    pub max_features: u64,
    /// Accepted bearer tokens, each `${VAR}` (the file never holds a secret); none: no authentication.
    pub auth_tokens: Vec<Templated>,
    /// Origins allowed by CORS; none: CORS off.
    pub cors_origins: Vec<String>,
}

impl Default for ServingSpec {
    fn default() -> Self {
        ServingSpec {
            host: "127.0.0.1".to_owned(),
            port: 6566,
            max_body_bytes: 1 << 20,
            max_entities: 1_000,
            max_features: 1_000,
            auth_tokens: Vec::new(),
            cors_origins: Vec::new(),
        }
    }
}

/// The offline store (event log and training sets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OfflineStoreSpec {
    /// A local directory (the default).
    Local {
        /// Directory, relative to the project.
        path: Templated,
    },
}

/// An entity: the thing features describe, identified by its join keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntitySpec {
    /// Name.
    pub name: String,
    /// Columns that identify one instance, in key order.
    pub join_keys: Vec<String>,
    /// Free text.
    pub description: Option<String>,
}

/// A named, typed column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// Column name.
    pub name: String,
    /// Column type.
    #[serde(rename = "type")]
    pub data_type: DataType,
}

/// A feature view: features of some entities, aggregated from one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureViewSpec {
    /// Name.
    pub name: String,
    /// Version; bumping it makes a new view, so breaking changes can be applied without `--force`.
    pub version: u32,
    /// Free text.
    pub description: Option<String>,
    /// Entities whose join keys key this view.
    pub entities: Vec<String>,
    /// Source of events.
    pub source: String,
    /// Derived columns, computed in order from the source row.
    pub columns: Vec<DerivedColumnSpec>,
    /// Rows kept, as canonical SQL.
    pub filter: Option<String>,
    /// Maximum age of an entity's newest event before its features read `OUTSIDE_MAX_AGE`.
    pub ttl: Option<Duration>,
    /// Features in declaration order.
    pub features: Vec<FeatureSpec>,
}

impl FeatureViewSpec {
    /// A feature by name.
    pub fn feature(&self, name: &str) -> Option<&FeatureSpec> {
        self.features.iter().find(|f| f.name == name)
    }
}

/// A column computed from the source row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivedColumnSpec {
    /// Column name.
    pub name: String,
    /// Canonical SQL.
    pub expr: String,
    /// Inferred type.
    #[serde(rename = "type")]
    pub data_type: DataType,
}

/// One feature of a view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Name, unique in its view.
    pub name: String,
    /// How events are combined.
    pub aggregation: Aggregation,
    /// Source or derived column aggregated; `None` only for a row count.
    pub column: Option<String>,
    /// Window length; `None` is unbounded.
    pub window: Option<Duration>,
    /// List length, for `last_n`.
    pub n: Option<u32>,
    /// Type of the feature's value.
    #[serde(rename = "type")]
    pub output_type: FeatureType,
    /// Free text.
    pub description: Option<String>,
}

/// A feature service: the features one model or application reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureServiceSpec {
    /// Name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Features, with `view:*` expanded, in the order given.
    pub features: Vec<FeatureRef>,
}

/// A reference to one feature, written `view:feature`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FeatureRef {
    /// View name.
    pub view: String,
    /// Feature name.
    pub feature: String,
}

impl fmt::Display for FeatureRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.view, self.feature)
    }
}

/// A model trained on a feature service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Features the model reads.
    pub feature_service: String,
    /// Where the labels come from.
    pub label: LabelSpec,
    /// Classification or regression.
    pub task: Task,
    /// Learning algorithm.
    pub algorithm: Algorithm,
    /// Hyper-parameters, validated per algorithm.
    pub params: BTreeMap<String, f64>,
}

/// The label column of a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelSpec {
    /// Source holding labelled events (keyed like the service's entities, timestamped).
    pub source: String,
    /// Column holding the label.
    pub column: String,
}

/// What a model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// A binary label (bool, or int64 0/1).
    Classification,
    /// A numeric label.
    Regression,
}

/// Learning algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Gradient-boosted decision trees.
    Gbdt,
    /// Logistic regression (classification) or linear regression, the baseline.
    Linear,
}

impl Algorithm {
    /// Hyper-parameters the algorithm accepts, with their valid ranges (inclusive).
    pub fn params(self) -> &'static [(&'static str, f64, f64)] {
        match self {
            Algorithm::Gbdt => &[
                ("trees", 1.0, 10_000.0),
                ("max_depth", 1.0, 64.0),
                ("learning_rate", 1e-6, 1.0),
                ("min_leaf_weight", 0.0, 1e9),
            ],
            Algorithm::Linear => &[("l2", 0.0, 1e6), ("max_iterations", 1.0, 1e6)],
        }
    }
}
