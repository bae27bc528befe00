//! Predictions: entity keys in, the production model's answer out.
//!
//! When the server starts (and whenever the caller reloads), each model of the project is resolved to
//! its production version in the registry and checked against the project: a model whose input
//! features no longer exist or have changed definition is refused, and `/predict` for it answers 409
//! with the reason and the fix, instead of silently feeding it numbers that mean something else.
//!
//! A prediction reads the model's features from the online store exactly as `/get-online-features`
//! does, turns them into inputs with [`freshet_models::input`] (the conversion training used), lets
//! request-time values override or fill any input, and runs the model.

use crate::catalog::{Catalog, FeatureRef};
use crate::error::ApiError;
use crate::lookup::{entity_rows, read_views};
use freshet_models::input::{json_input, model_input};
use freshet_models::{ModelArtifact, Registry};
use freshet_online::OnlineStore;
use freshet_project::Project;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A model ready to serve: its artifact and its inputs resolved in the catalog.
#[derive(Debug)]
pub struct ServedModel {
    /// The production version.
    pub artifact: ModelArtifact,
    /// Its inputs, in model order.
    refs: Vec<FeatureRef>,
    /// Their `view:feature` names, resolved once rather than per request.
    names: Vec<String>,
}

/// Every model of the project: servable, or why not.
#[derive(Debug, Default)]
pub struct Models {
    by_name: BTreeMap<String, Result<Arc<ServedModel>, String>>,
    /// Each model's production version as the registry said when these were loaded, in project
    /// order: what [`follow_promotions`] compares the registry with.
    production: Vec<Result<Option<u32>, String>>,
}

impl Models {
    /// Resolves each model of `project` to its checked production version in `registry`.
    pub fn load(project: &Project, catalog: &Catalog, registry: &Registry) -> Models {
        let production = production_versions(project, registry);
        let by_name = project
            .spec
            .models
            .iter()
            .zip(&production)
            .map(|(m, version)| {
                let served = resolve(project, catalog, registry, &m.name, version.clone());
                (m.name.clone(), served)
            })
            .collect();
        Models {
            by_name,
            production,
        }
    }

    /// A model by name, or the 404/409 explaining why it cannot serve.
    pub fn get(&self, name: &str) -> Result<Arc<ServedModel>, ApiError> {
        match self.by_name.get(name) {
            Some(Ok(model)) => Ok(model.clone()),
            Some(Err(reason)) => Err(ApiError {
                status: axum::http::StatusCode::CONFLICT,
                code: "model_unavailable",
                message: reason.clone(),
            }),
            None => Err(ApiError {
                status: axum::http::StatusCode::NOT_FOUND,
                code: "unknown_model",
                message: format!(
                    "unknown model `{name}`; the project's models: {}",
                    self.names().join(", ")
                ),
            }),
        }
    }

    /// Model names.
    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    /// Per model, its serving version or why it is refused.
    pub fn status(&self) -> Vec<(String, Result<u32, String>)> {
        self.by_name
            .iter()
            .map(|(name, m)| {
                let state = match m {
                    Ok(m) => Ok(m.artifact.version),
                    Err(e) => Err(e.clone()),
                };
                (name.clone(), state)
            })
            .collect()
    }
}

fn resolve(
    project: &Project,
    catalog: &Catalog,
    registry: &Registry,
    name: &str,
    production: Result<Option<u32>, String>,
) -> Result<Arc<ServedModel>, String> {
    let artifact = match production? {
        Some(version) => registry.load(name, version).map_err(|e| e.to_string())?,
        None => {
            return Err(format!(
                "model `{name}` has no production version; run `freshet train --model {name} --promote`"
            ));
        }
    };
    let mismatches = artifact.check(project);
    if !mismatches.is_empty() {
        let reasons: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
        return Err(format!(
            "{} was trained on other feature definitions: {}; retrain with `freshet train --model {name} --promote`, or restore the definitions",
            artifact.label(),
            reasons.join("; ")
        ));
    }
    let names: Vec<String> = artifact
        .features
        .iter()
        .map(freshet_models::FeatureDefinition::reference)
        .collect();
    let refs = catalog
        .features(&names, "model")
        .map_err(|e| format!("{}: {}", artifact.label(), e.message))?;
    Ok(Arc::new(ServedModel {
        artifact,
        refs,
        names,
    }))
}

/// `POST /predict`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    /// The model.
    pub model: String,
    /// Join key columns, as in `/get-online-features`.
    pub entities: serde_json::Map<String, Json>,
    /// Request-time values, `view:feature` → one value per entity, overriding the store's.
    #[serde(default)]
    pub features: serde_json::Map<String, Json>,
    /// Also return the inputs the model read.
    #[serde(default)]
    pub return_features: bool,
}

/// The answer to `POST /predict`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictResponse {
    /// The model.
    pub model: String,
    /// Its version.
    pub version: u32,
    /// One per entity: the probability of a true label, or the predicted value.
    pub predictions: Vec<f64>,
    /// The inputs used, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub features: Option<UsedFeatures>,
}

/// The inputs a prediction read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsedFeatures {
    /// `view:feature`, in model order.
    pub names: Vec<String>,
    /// One row per entity; `null` where missing.
    pub values: Vec<Vec<Option<f64>>>,
}

/// Answers a prediction request as of `now`.
pub async fn predict(
    catalog: &Catalog,
    store: &OnlineStore,
    model: &ServedModel,
    request: &PredictRequest,
    now: i64,
) -> Result<PredictResponse, ApiError> {
    let rows = entity_rows(&request.entities)?;
    let names = &model.names;
    let overrides = overrides(names, &request.features, rows)?;
    let answers = read_views(catalog, store, &model.refs, &request.entities, now).await?;
    let mut inputs = vec![vec![f64::NAN; names.len()]; rows];
    for (i, r) in model.refs.iter().enumerate() {
        let Some(view_rows) = answers.of(r.view) else {
            continue;
        };
        for (row, answer) in inputs.iter_mut().zip(view_rows) {
            row[i] = model_input(&answer.values[r.feature]);
        }
    }
    for (i, values) in overrides {
        for (row, v) in inputs.iter_mut().zip(values) {
            row[i] = v;
        }
    }
    let predictions = inputs
        .iter()
        .map(|row| model.artifact.estimator.predict_row(row))
        .collect();
    Ok(PredictResponse {
        model: model.artifact.model.clone(),
        version: model.artifact.version,
        predictions,
        features: request.return_features.then(|| UsedFeatures {
            names: names.clone(),
            values: inputs
                .iter()
                .map(|row| row.iter().map(|v| (!v.is_nan()).then_some(*v)).collect())
                .collect(),
        }),
    })
}

/// Request-time values by input index, checked: known names, one number per entity.
fn overrides(
    names: &[String],
    given: &serde_json::Map<String, Json>,
    rows: usize,
) -> Result<Vec<(usize, Vec<f64>)>, ApiError> {
    given
        .iter()
        .map(|(name, column)| {
            let Some(index) = names.iter().position(|n| n == name) else {
                return Err(ApiError::bad_request(
                    "unknown_model_input",
                    format!(
                        "features.{name}: the model reads no such feature; its inputs: {}",
                        names.join(", ")
                    ),
                ));
            };
            let values = column.as_array().filter(|v| v.len() == rows).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_model_input",
                    format!("features.{name}: give a list of {rows} values, one per entity"),
                )
            })?;
            let numbers = values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    json_input(v).ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_model_input",
                            format!("features.{name}[{i}]: expected a number, a boolean or null, found {v}"),
                        )
                    })
                })
                .collect::<Result<Vec<f64>, _>>()?;
            Ok((index, numbers))
        })
        .collect()
}

/// Which version of each model of `project` is in production, as the registry says now.
fn production_versions(project: &Project, registry: &Registry) -> Vec<Result<Option<u32>, String>> {
    project
        .spec
        .models
        .iter()
        .map(|m| registry.production(&m.name).map_err(|e| e.to_string()))
        .collect()
}

/// Reloads `state`'s models whenever a production version changes in the registry, checking every
/// `every`, until the task is dropped.
///
/// This is how `freshet model promote` and `rollback`, run in another process, reach a running
/// server: the registry's small `production.json` files are the only thing read per check, and the
/// artifacts are loaded only when one of them differs from what the served models were loaded from
/// (so a promotion during the server's start is caught by the first check).
pub async fn follow_promotions(
    state: Arc<crate::AppState>,
    project: Project,
    every: std::time::Duration,
) {
    let registry = crate::app::model_registry(&project);
    loop {
        tokio::time::sleep(every).await;
        if production_versions(&project, &registry) != state.models().production {
            state.reload_models(&project);
        }
    }
}
