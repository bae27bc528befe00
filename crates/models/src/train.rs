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
    /// Fitting the linear baseline on this many rows.
    Baseline(usize),
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

/// The most training rows the linear baseline is fitted on.
///
/// The baseline is a yardstick for the tree model, not the model served, and a linear model's 50-odd
/// weights are estimated as well from tens of thousands of rows as from millions; `linfa`'s solver,
/// meanwhile, takes seconds per ten thousand rows. Beyond this many rows it fits on an evenly spaced
/// sample, which keeps every part of the training period.
pub const BASELINE_ROWS: usize = 20_000;

/// The rows the baseline is fitted on: all of `train`, or [`BASELINE_ROWS`] evenly spaced ones.
fn baseline_sample(train: &Dataset) -> Dataset {
    let rows = train.rows();
    if rows <= BASELINE_ROWS {
        return train.clone();
    }
    let picked: Vec<usize> = (0..BASELINE_ROWS)
        .map(|i| i * rows / BASELINE_ROWS)
        .collect();
    train.select(&picked)
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
        let sample = baseline_sample(&split.train);
        progress(Stage::Baseline(sample.rows()));
        let linear = Estimator::fit(Algorithm::Linear, spec.task, &BTreeMap::new(), &sample)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> Dataset {
        Dataset {
            features: vec!["v:f".into()],
            values: (0..n).map(|r| r as f64).collect(),
            labels: vec![0.0; n],
            times: (0..n as i64).collect(),
        }
    }

    #[test]
    fn the_baseline_sample_is_bounded_and_spans_the_training_period() {
        assert_eq!(baseline_sample(&rows(100)), rows(100));
        let sample = baseline_sample(&rows(3 * BASELINE_ROWS + 7));
        assert_eq!(sample.rows(), BASELINE_ROWS);
        assert_eq!(sample.times[0], 0);
        assert!(sample.times[BASELINE_ROWS - 1] >= 3 * BASELINE_ROWS as i64 - 3);
        assert!(sample.times.windows(2).all(|w| w[0] < w[1]));
    }
}
