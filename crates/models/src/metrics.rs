//! Validation metrics: AUC, log loss and accuracy for classifiers; RMSE and MAE for regressors.
//!
//! Small enough to own, and each is checked against a naive oracle by property tests. AUC is the
//! Mann-Whitney statistic computed from ranks with ties sharing their mid-rank, which equals the
//! probability that a random positive scores above a random negative (ties counting half).

use serde::{Deserialize, Serialize};

/// How well a model did on rows it did not see.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum Evaluation {
    /// A binary classifier.
    Classification {
        /// Area under the ROC curve (`None` when the rows hold one class).
        auc: Option<f64>,
        /// Mean negative log-likelihood of the labels.
        log_loss: f64,
        /// Share of rows on the right side of 0.5.
        accuracy: f64,
        /// Share of positive labels (what always guessing "no" would miss).
        positive_rate: f64,
    },
    /// A regressor.
    Regression {
        /// Root mean squared error.
        rmse: f64,
        /// Mean absolute error.
        mae: f64,
    },
}

impl Evaluation {
    /// Classification metrics of probabilities against 0/1 labels.
    pub fn classification(probabilities: &[f64], labels: &[f64]) -> Evaluation {
        Evaluation::Classification {
            auc: auc(probabilities, labels),
            log_loss: log_loss(probabilities, labels),
            accuracy: accuracy(probabilities, labels),
            positive_rate: mean(labels),
        }
    }

    /// Regression metrics of predictions against labels.
    pub fn regression(predictions: &[f64], labels: &[f64]) -> Evaluation {
        Evaluation::Regression {
            rmse: rmse(predictions, labels),
            mae: mae(predictions, labels),
        }
    }
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// One line, as reports print it: `AUC 0.9123  log loss 0.3012  accuracy 87.1 %  (positives 20.3 %)`.
impl std::fmt::Display for Evaluation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Evaluation::Classification {
                auc,
                log_loss,
                accuracy,
                positive_rate,
            } => {
                match auc {
                    Some(a) => write!(f, "AUC {a:.4}")?,
                    None => write!(f, "AUC n/a")?,
                }
                write!(
                    f,
                    "  log loss {log_loss:.4}  accuracy {:.1} %  (positives {:.1} %)",
                    accuracy * 100.0,
                    positive_rate * 100.0
                )
            }
            Evaluation::Regression { rmse, mae } => write!(f, "RMSE {rmse:.4}  MAE {mae:.4}"),
        }
    }
}

/// Area under the ROC curve; `None` unless both classes occur.
pub fn auc(scores: &[f64], labels: &[f64]) -> Option<f64> {
    let positives = labels.iter().filter(|&&y| y > 0.5).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the positives' ranks (1-based), ties sharing the mean of their ranks.
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && scores[order[end + 1]] == scores[order[start]] {
            end += 1;
        }
        let mid_rank = (start + end) as f64 / 2.0 + 1.0;
        let tied_positives = order[start..=end]
            .iter()
            .filter(|&&i| labels[i] > 0.5)
            .count();
        rank_sum += mid_rank * tied_positives as f64;
        start = end + 1;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Mean negative log-likelihood, probabilities clipped to `[1e-15, 1 - 1e-15]`.
pub fn log_loss(probabilities: &[f64], labels: &[f64]) -> f64 {
    let losses: Vec<f64> = probabilities
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
        })
        .collect();
    mean(&losses)
}

/// Share of rows whose probability is on the label's side of 0.5.
pub fn accuracy(probabilities: &[f64], labels: &[f64]) -> f64 {
    let right: Vec<f64> = probabilities
        .iter()
        .zip(labels)
        .map(|(&p, &y)| f64::from(u8::from((p >= 0.5) == (y > 0.5))))
        .collect();
    mean(&right)
}

/// Root mean squared error.
pub fn rmse(predictions: &[f64], labels: &[f64]) -> f64 {
    let squares: Vec<f64> = predictions
        .iter()
        .zip(labels)
        .map(|(p, y)| (p - y) * (p - y))
        .collect();
    mean(&squares).sqrt()
}

/// Mean absolute error.
pub fn mae(predictions: &[f64], labels: &[f64]) -> f64 {
    let errors: Vec<f64> = predictions
        .iter()
        .zip(labels)
        .map(|(p, y)| (p - y).abs())
        .collect();
    mean(&errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition: over every (positive, negative) pair, 1 when the positive scores higher, ½ on
    /// a tie.
    fn naive_auc(scores: &[f64], labels: &[f64]) -> Option<f64> {
        let mut wins = 0.0;
        let mut pairs = 0.0;
        for (i, &yi) in labels.iter().enumerate() {
            for (j, &yj) in labels.iter().enumerate() {
                if yi > 0.5 && yj <= 0.5 {
                    pairs += 1.0;
                    if scores[i] > scores[j] {
                        wins += 1.0;
                    } else if scores[i] == scores[j] {
                        wins += 0.5;
                    }
                }
            }
        }
        (pairs > 0.0).then(|| wins / pairs)
    }

    #[test]
    fn known_values() {
        assert_eq!(
            auc(&[0.1, 0.4, 0.35, 0.8], &[0.0, 0.0, 1.0, 1.0]),
            Some(0.75)
        );
        assert_eq!(auc(&[0.5, 0.5], &[1.0, 1.0]), None);
        assert!((log_loss(&[0.5], &[1.0]) - std::f64::consts::LN_2).abs() < 1e-12);
        assert_eq!(accuracy(&[0.9, 0.2, 0.6], &[1.0, 0.0, 0.0]), 2.0 / 3.0);
        assert_eq!(rmse(&[1.0, 3.0], &[0.0, 0.0]), 5f64.sqrt());
        assert_eq!(mae(&[1.0, -3.0], &[0.0, 0.0]), 2.0);
    }

    proptest! {
        #[test]
        fn auc_matches_the_pairwise_definition(
            rows in prop::collection::vec((0u8..6, prop::bool::ANY), 1..60)
        ) {
            // Few distinct scores, so ties are common.
            let scores: Vec<f64> = rows.iter().map(|(s, _)| f64::from(*s) / 5.0).collect();
            let labels: Vec<f64> = rows.iter().map(|(_, y)| f64::from(u8::from(*y))).collect();
            match (auc(&scores, &labels), naive_auc(&scores, &labels)) {
                (Some(a), Some(b)) => prop_assert!((a - b).abs() < 1e-9, "{a} vs {b}"),
                (a, b) => prop_assert_eq!(a, b),
            }
        }
    }
}
