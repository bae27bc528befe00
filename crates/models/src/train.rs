//! Training: split labelled rows by time, fit, and measure on the later rows.
//!
//! The validation rows are all later than the training rows (see [`Dataset::split_by_time`]), so the
//! metrics estimate how the model does on the future, which is how it will be used. Gradient-boosted
//! trees are also compared with the linear baseline fitted on the same rows: a tree model that cannot
//! beat it is a sign the features carry little signal.

use crate::ModelError;
use crate::artifact::TrainingSummary;
use crate::dataset::Dataset;
use crate::estimator::Estimator;
use crate::metrics::Evaluation;
use freshet_project::spec::{Algorithm, ModelSpec, Task};
use std::collections::BTreeMap;

/// Settings of a training run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainOptions {
    /// Share of the rows, the latest, held out for validation.
    pub validation_fraction: f64,
    /// Fewest labelled rows worth training on.
    pub min_rows: usize,
}

impl Default for TrainOptions {
    fn default() -> TrainOptions {
        TrainOptions {
            validation_fraction: 0.2,
            min_rows: 20,
        }
    }
}

/// The stages a training run reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Fitting the configured algorithm on this many rows.
    Fitting(usize),
    /// Fitting the linear baseline.
    Baseline,
    /// Scoring the validation rows.
    Evaluating(usize),
}

/// A fitted model and how it did.
#[derive(Debug)]
pub struct Trained {
    /// The model.
    pub estimator: Estimator,
    /// Its validation metrics.
    pub metrics: Evaluation,
    /// The linear baseline's, for tree models.
    pub baseline: Option<Evaluation>,
    /// Per feature, its share of importance.
    pub importance: Vec<f64>,
    /// What was trained on.
    pub summary: TrainingSummary,
}

fn evaluate(task: Task, estimator: &Estimator, rows: &Dataset) -> Evaluation {
    let predictions = estimator.predict(rows);
    match task {
        Task::Classification => Evaluation::classification(&predictions, &rows.labels),
        Task::Regression => Evaluation::regression(&predictions, &rows.labels),
    }
}

/// Trains `spec`'s model on `data` (labels with nulls already dropped, `dropped` counts them).
pub fn train(
    spec: &ModelSpec,
    data: &Dataset,
    dropped: usize,
    options: &TrainOptions,
    progress: &mut dyn FnMut(Stage),
) -> Result<Trained, ModelError> {
    if data.rows() < options.min_rows {
        return Err(ModelError::TooFewRows {
            model: spec.name.clone(),
            rows: data.rows(),
            needed: options.min_rows,
        });
    }
    let split = data.split_by_time(&spec.name, options.validation_fraction)?;
    if spec.task == Task::Classification {
        for (part, rows) in [
            ("training", &split.train),
            ("validation", &split.validation),
        ] {
            let first = rows.labels[0];
            if rows.labels.iter().all(|&y| y == first) {
                return Err(ModelError::OneClass {
                    model: spec.name.clone(),
                    part,
                    value: first,
                });
            }
        }
    }
    progress(Stage::Fitting(split.train.rows()));
    let estimator = Estimator::fit(spec.algorithm, spec.task, &spec.params, &split.train)?;
    let baseline = if spec.algorithm == Algorithm::Gbdt {
        progress(Stage::Baseline);
        let linear = Estimator::fit(Algorithm::Linear, spec.task, &BTreeMap::new(), &split.train)?;
        Some(evaluate(spec.task, &linear, &split.validation))
    } else {
        None
    };
    progress(Stage::Evaluating(split.validation.rows()));
    let metrics = evaluate(spec.task, &estimator, &split.validation);
    Ok(Trained {
        importance: estimator.importance(data.features.len()),
        estimator,
        metrics,
        baseline,
        summary: TrainingSummary {
            rows: data.rows(),
            train_rows: split.train.rows(),
            validation_rows: split.validation.rows(),
            cutoff: split.cutoff,
            dropped_rows: dropped,
            fingerprint: data.fingerprint(),
        },
    })
}
