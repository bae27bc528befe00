//! A fitted model of either algorithm, behind one interface: predict from inputs, explain importance.
//!
//! Classifiers predict the probability that the label is true; regressors predict the label. Inputs
//! are rows of `f64` in the artifact's feature order (see [`crate::input`]).

use crate::ModelError;
use crate::dataset::Dataset;
use crate::linear::LinearModel;
use forust_ml::gradientbooster::ImportanceMethod;
use forust_ml::objective::ObjectiveType;
use forust_ml::{GradientBooster, Matrix};
use freshet_project::spec::{Algorithm, Task};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A fitted model.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Estimator {
    /// Gradient-boosted trees.
    Gbdt {
        /// The `forust` ensemble (its trees serialise as JSON).
        booster: Box<GradientBooster>,
        /// Whether raw scores are log-odds (classification).
        logistic: bool,
    },
    /// The linear baseline.
    Linear(LinearModel),
}

impl std::fmt::Debug for Estimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Estimator::Gbdt { booster, logistic } => f
                .debug_struct("Gbdt")
                .field("trees", &booster.trees.len())
                .field("logistic", logistic)
                .finish(),
            Estimator::Linear(m) => m.fmt(f),
        }
    }
}

/// A hyper-parameter, or its default.
fn param(params: &BTreeMap<String, f64>, name: &str, default: f64) -> f64 {
    params.get(name).copied().unwrap_or(default)
}

impl Estimator {
    /// Fits `algorithm` for `task` on `train` with `params` (validated by the project).
    pub fn fit(
        algorithm: Algorithm,
        task: Task,
        params: &BTreeMap<String, f64>,
        train: &Dataset,
    ) -> Result<Estimator, ModelError> {
        let logistic = task == Task::Classification;
        match algorithm {
            Algorithm::Gbdt => {
                let objective = if logistic {
                    ObjectiveType::LogLoss
                } else {
                    ObjectiveType::SquaredLoss
                };
                let mut booster = GradientBooster::default()
                    .set_objective_type(objective)
                    .set_iterations(param(params, "trees", 100.0) as usize)
                    .set_max_depth(param(params, "max_depth", 5.0) as usize)
                    .set_learning_rate(param(params, "learning_rate", 0.1) as f32)
                    .set_min_leaf_weight(param(params, "min_leaf_weight", 1.0) as f32)
                    .set_initialize_base_score(true)
                    .set_seed(0)
                    .set_parallel(true);
                let matrix = Matrix::new(&train.values, train.rows(), train.features.len());
                booster
                    .fit_unweighted(&matrix, &train.labels, None)
                    .map_err(|e| ModelError::Fit {
                        algorithm: "gbdt",
                        reason: e.to_string(),
                    })?;
                Ok(Estimator::Gbdt {
                    booster: Box::new(booster),
                    logistic,
                })
            }
            Algorithm::Linear => Ok(Estimator::Linear(LinearModel::fit(
                train,
                logistic,
                param(params, "l2", 1.0),
                param(params, "max_iterations", 200.0) as u64,
            )?)),
        }
    }

    /// Predictions for every row of `data`.
    pub fn predict(&self, data: &Dataset) -> Vec<f64> {
        match self {
            Estimator::Gbdt { booster, logistic } => {
                let matrix = Matrix::new(&data.values, data.rows(), data.features.len());
                let raw = booster.predict(&matrix, true);
                finish(raw, *logistic)
            }
            Estimator::Linear(m) => (0..data.rows())
                .map(|r| m.predict_row(&data.row(r)))
                .collect(),
        }
    }

    /// The prediction for one row of inputs (a serving request).
    pub fn predict_row(&self, inputs: &[f64]) -> f64 {
        match self {
            Estimator::Gbdt { booster, logistic } => {
                let matrix = Matrix::new(inputs, 1, inputs.len());
                let raw = booster.predict(&matrix, false);
                finish(raw, *logistic).first().copied().unwrap_or(f64::NAN)
            }
            Estimator::Linear(m) => m.predict_row(inputs),
        }
    }

    /// Each feature's share of the model's total importance (gain for trees, absolute standardised
    /// weight for the baseline), in feature order.
    pub fn importance(&self, features: usize) -> Vec<f64> {
        match self {
            Estimator::Gbdt { booster, .. } => {
                let gains =
                    booster.calculate_feature_importance(ImportanceMethod::TotalGain, false);
                let total: f64 = gains.values().map(|&g| f64::from(g)).sum();
                (0..features)
                    .map(|f| {
                        let g = gains.get(&f).map_or(0.0, |&g| f64::from(g));
                        if total > 0.0 { g / total } else { 0.0 }
                    })
                    .collect()
            }
            Estimator::Linear(m) => m.importance(),
        }
    }
}

/// Log-odds to probabilities for classifiers.
fn finish(mut raw: Vec<f64>, logistic: bool) -> Vec<f64> {
    if logistic {
        for x in &mut raw {
            *x = 1.0 / (1.0 + (-*x).exp());
        }
    }
    raw
}
