//! The linear baseline: logistic regression for classifiers, ridge-penalised linear regression for
//! regressors, both fitted by `linfa` on standardised inputs.
//!
//! The fitted model is kept as plain numbers (means, scales, weights, intercept), so predicting is a dot
//! product that needs no `linfa` types at serve time and serialises trivially. Missing inputs (`NaN`)
//! are replaced by the training mean, which after standardisation is zero.

use crate::ModelError;
use crate::dataset::Dataset;
use linfa::prelude::*;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

/// A fitted linear model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    /// Per feature, the training mean (the value a missing input takes).
    pub means: Vec<f64>,
    /// Per feature, the training standard deviation (1 when constant).
    pub scales: Vec<f64>,
    /// Per feature, the weight of its standardised value.
    pub weights: Vec<f64>,
    /// The intercept.
    pub intercept: f64,
    /// Whether the output goes through the logistic function (classification).
    pub logistic: bool,
}

/// The mean gradient, per row, at which the logistic fit has converged. Measured on B5's 1M rows x 50
/// features: 1e-3 fits in 22 s where 1e-4 took 77 s, with the same AUC (0.7728) and log loss within
/// 1e-4; the inputs are standardised, so the mean gradient is on one scale for every feature.
const GRADIENT_TOLERANCE_PER_ROW: f64 = 1e-3;

fn fit_error(e: impl std::fmt::Display) -> ModelError {
    ModelError::Fit {
        algorithm: "linear",
        reason: e.to_string(),
    }
}

/// Mean and standard deviation of the present values (0 and 1 when none or constant).
fn moments(column: &[f64]) -> (f64, f64) {
    let present: Vec<f64> = column.iter().copied().filter(|x| !x.is_nan()).collect();
    if present.is_empty() {
        return (0.0, 1.0);
    }
    let n = present.len() as f64;
    let mean = present.iter().sum::<f64>() / n;
    let var = present.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    let sd = var.sqrt();
    (mean, if sd > 0.0 && sd.is_finite() { sd } else { 1.0 })
}

impl LinearModel {
    /// Fits on `train`: logistic when `logistic`, else linear; `l2` penalises the weights.
    pub(crate) fn fit(
        train: &Dataset,
        logistic: bool,
        l2: f64,
        max_iterations: u64,
    ) -> Result<LinearModel, ModelError> {
        let (rows, cols) = (train.rows(), train.features.len());
        let (means, scales): (Vec<f64>, Vec<f64>) =
            (0..cols).map(|f| moments(train.column(f))).unzip();
        let mut x = Array2::<f64>::zeros((rows, cols));
        for f in 0..cols {
            for (r, &v) in train.column(f).iter().enumerate() {
                x[[r, f]] = if v.is_nan() {
                    0.0
                } else {
                    (v - means[f]) / scales[f]
                };
            }
        }
        let (weights, intercept) = if logistic {
            let targets: Array1<bool> = train.labels.iter().map(|&y| y > 0.5).collect();
            // linfa minimises the summed (not mean) loss, so its gradient grows with the rows; a
            // fixed tolerance would be ever stricter on more rows and run out the iterations,
            // each a pass over the whole matrix. The tolerance is set per row instead.
            let tolerance = GRADIENT_TOLERANCE_PER_ROW * rows.max(1) as f64;
            let fitted = linfa_logistic::LogisticRegression::default()
                .alpha(l2)
                .max_iterations(max_iterations)
                .gradient_tolerance(tolerance)
                .fit(&linfa::Dataset::new(x, targets))
                .map_err(fit_error)?;
            // linfa calls the more frequent class "positive"; the model predicts P(label = true).
            let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
            (
                fitted.params().iter().map(|w| sign * w).collect(),
                sign * fitted.intercept(),
            )
        } else {
            let targets = Array1::from(train.labels.clone());
            let fitted = linfa_linear::TweedieRegressor::params()
                .power(0.0)
                .alpha(l2)
                .max_iter(usize::try_from(max_iterations).unwrap_or(usize::MAX))
                .fit(&linfa::Dataset::new(x, targets))
                .map_err(fit_error)?;
            (fitted.coef.to_vec(), fitted.intercept)
        };
        Ok(LinearModel {
            means,
            scales,
            weights,
            intercept,
            logistic,
        })
    }

    /// The prediction for one row of inputs.
    pub(crate) fn predict_row(&self, inputs: &[f64]) -> f64 {
        let z = inputs
            .iter()
            .zip(&self.means)
            .zip(&self.scales)
            .zip(&self.weights)
            .map(|(((&x, &m), &s), &w)| if x.is_nan() { 0.0 } else { w * (x - m) / s })
            .sum::<f64>()
            + self.intercept;
        if self.logistic {
            1.0 / (1.0 + (-z).exp())
        } else {
            z
        }
    }

    /// Each feature's share of the absolute standardised weights.
    pub(crate) fn importance(&self) -> Vec<f64> {
        let total: f64 = self.weights.iter().map(|w| w.abs()).sum();
        self.weights
            .iter()
            .map(|w| if total > 0.0 { w.abs() / total } else { 0.0 })
            .collect()
    }
}
