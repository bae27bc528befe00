//! A trained model version: the fitted model plus everything needed to trust it later.
//!
//! Besides the estimator, an artifact records the feature service it was trained on and, per input
//! feature, the feature's full definition (its aggregation, column, window and its view's source,
//! derived columns, filter and TTL) as it was at training time. A server compares those definitions
//! with the project it runs ([`ModelArtifact::check`]) and refuses a model whose inputs no longer mean
//! what they meant in training: serving it would be train/serve skew by construction.

use crate::estimator::Estimator;
use crate::metrics::Evaluation;
use freshet_project::Project;
use freshet_project::spec::{Algorithm, LabelSpec, ModelSpec, Task};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The artifact format written by this build.
pub const FORMAT: u32 = 1;

/// One model input: a feature and what it meant when the model was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDefinition {
    /// The feature view.
    pub view: String,
    /// The feature.
    pub feature: String,
    /// Everything that determines the feature's values, as canonical JSON.
    pub definition: Value,
}

impl FeatureDefinition {
    /// `view:feature`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.view, self.feature)
    }

    /// The current definition of `view:feature` in `project`, if it exists.
    pub fn current(project: &Project, view: &str, feature: &str) -> Option<FeatureDefinition> {
        let spec = project.spec.feature_views.iter().find(|v| v.name == view)?;
        let f = spec.feature(feature)?;
        let source = project
            .spec
            .sources
            .iter()
            .find(|s| s.name == spec.source)?;
        Some(FeatureDefinition {
            view: view.to_owned(),
            feature: feature.to_owned(),
            definition: json!({
                "feature": f,
                "view_version": spec.version,
                "entities": spec.entities,
                "source": spec.source,
                "timestamp_field": source.timestamp_field,
                "columns": spec.columns,
                "filter": spec.filter,
                "ttl": spec.ttl,
            }),
        })
    }

    /// The definitions of a feature service's features, in service order.
    pub fn of_service(project: &Project, service: &str) -> Option<Vec<FeatureDefinition>> {
        let spec = project
            .spec
            .feature_services
            .iter()
            .find(|s| s.name == service)?;
        spec.features
            .iter()
            .map(|r| FeatureDefinition::current(project, &r.view, &r.feature))
            .collect()
    }
}

/// What the training run saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Labelled rows used.
    pub rows: usize,
    /// Rows trained on (the earlier ones).
    pub train_rows: usize,
    /// Rows validated on (the later ones).
    pub validation_rows: usize,
    /// First instant of the validation rows (microseconds).
    pub cutoff: i64,
    /// Label rows dropped because the label was null.
    pub dropped_rows: usize,
    /// SHA-256 of the labelled rows (see [`crate::Dataset::fingerprint`]).
    pub fingerprint: String,
}

/// A trained, versioned model.
#[derive(Debug, Serialize, Deserialize)]
pub struct ModelArtifact {
    /// Artifact format.
    pub format: u32,
    /// Model name.
    pub model: String,
    /// Version in the registry (assigned when saved).
    pub version: u32,
    /// When it was trained (RFC 3339).
    pub created_at: String,
    /// Classification or regression.
    pub task: Task,
    /// Learning algorithm.
    pub algorithm: Algorithm,
    /// Hyper-parameters as configured.
    pub params: BTreeMap<String, f64>,
    /// The feature service trained on.
    pub feature_service: String,
    /// Model inputs, in order, with their definitions.
    pub features: Vec<FeatureDefinition>,
    /// The label.
    pub label: LabelSpec,
    /// What training saw.
    pub training: TrainingSummary,
    /// Validation metrics.
    pub metrics: Evaluation,
    /// Validation metrics of the linear baseline trained on the same rows (trees only).
    pub baseline: Option<Evaluation>,
    /// Per input, its share of the model's importance.
    pub importance: Vec<(String, f64)>,
    /// The fitted model.
    pub estimator: Estimator,
}

/// Why a stored model cannot serve a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// A feature the model reads is gone.
    Missing {
        /// `view:feature`.
        feature: String,
    },
    /// A feature the model reads has changed definition.
    Changed {
        /// `view:feature`.
        feature: String,
        /// Top-level parts of the definition that differ.
        parts: Vec<String>,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Missing { feature } => {
                write!(f, "feature `{feature}` no longer exists in the project")
            }
            Mismatch::Changed { feature, parts } => write!(
                f,
                "feature `{feature}` changed since training ({})",
                parts.join(", ")
            ),
        }
    }
}

impl ModelArtifact {
    /// `model vN`.
    pub fn label(&self) -> String {
        format!("{} v{}", self.model, self.version)
    }

    /// Every way the project's features differ from what the model was trained on.
    pub fn check(&self, project: &Project) -> Vec<Mismatch> {
        self.features
            .iter()
            .filter_map(|trained| {
                let Some(now) =
                    FeatureDefinition::current(project, &trained.view, &trained.feature)
                else {
                    return Some(Mismatch::Missing {
                        feature: trained.reference(),
                    });
                };
                let parts = differing_parts(&trained.definition, &now.definition);
                (!parts.is_empty()).then(|| Mismatch::Changed {
                    feature: trained.reference(),
                    parts,
                })
            })
            .collect()
    }

    /// A new artifact for `spec` (version 0 until the registry assigns one).
    pub fn new(
        spec: &ModelSpec,
        features: Vec<FeatureDefinition>,
        trained: crate::Trained,
        created_at: String,
    ) -> ModelArtifact {
        ModelArtifact {
            format: FORMAT,
            model: spec.name.clone(),
            version: 0,
            created_at,
            task: spec.task,
            algorithm: spec.algorithm,
            params: spec.params.clone(),
            feature_service: spec.feature_service.clone(),
            importance: features
                .iter()
                .map(FeatureDefinition::reference)
                .zip(trained.importance)
                .collect(),
            features,
            label: spec.label.clone(),
            training: trained.summary,
            metrics: trained.metrics,
            baseline: trained.baseline,
            estimator: trained.estimator,
        }
    }
}

/// Names of the top-level keys whose values differ.
fn differing_parts(a: &Value, b: &Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return if a == b {
            vec![]
        } else {
            vec!["definition".to_owned()]
        };
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| k.to_string())
        .collect()
}
