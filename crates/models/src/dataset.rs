//! Labelled rows in the layout the learners want, and the split by time.
//!
//! Values are stored column-major (`values[feature * rows + row]`), the layout `forust` bins without a
//! copy. The split is by time, never at random: a feature store's rows are ordered by when they were
//! known, and a random split would let the model peek at the future of the rows it is scored on.

use crate::ModelError;
use sha2::{Digest, Sha256};

/// Labelled rows: one value per feature and row, a label and a time per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Feature names, in model input order.
    pub features: Vec<String>,
    /// Column-major values; `NaN` is missing.
    pub values: Vec<f64>,
    /// One label per row.
    pub labels: Vec<f64>,
    /// One time per row (microseconds since the epoch): when the label's row was observed.
    pub times: Vec<i64>,
}

/// Training rows, and later validation rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Rows before `cutoff`.
    pub train: Dataset,
    /// Rows at or after `cutoff`.
    pub validation: Dataset,
    /// The first instant of the validation rows.
    pub cutoff: i64,
}

impl Dataset {
    /// Rows held.
    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// One column.
    pub fn column(&self, feature: usize) -> &[f64] {
        let rows = self.rows();
        &self.values[feature * rows..(feature + 1) * rows]
    }

    /// One row's inputs, in feature order.
    pub fn row(&self, row: usize) -> Vec<f64> {
        let rows = self.rows();
        (0..self.features.len())
            .map(|f| self.values[f * rows + row])
            .collect()
    }

    /// A digest of everything the model learns from (names, values, labels, times), recorded in the
    /// artifact so two versions can be told to have seen the same data, or not.
    pub fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        for name in &self.features {
            hash.update(name.as_bytes());
            hash.update([0]);
        }
        for x in self.values.iter().chain(&self.labels) {
            hash.update(x.to_bits().to_le_bytes());
        }
        for t in &self.times {
            hash.update(t.to_le_bytes());
        }
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The rows at `indexes`, in that order.
    pub fn select(&self, indexes: &[usize]) -> Dataset {
        let rows = self.rows();
        let mut values = Vec::with_capacity(indexes.len() * self.features.len());
        for f in 0..self.features.len() {
            let column = &self.values[f * rows..(f + 1) * rows];
            values.extend(indexes.iter().map(|&i| column[i]));
        }
        Dataset {
            features: self.features.clone(),
            values,
            labels: indexes.iter().map(|&i| self.labels[i]).collect(),
            times: indexes.iter().map(|&i| self.times[i]).collect(),
        }
    }

    /// Splits so that about `validation_fraction` of the rows, the latest ones, validate. Rows sharing
    /// an instant stay on one side, so no validation row is simultaneous with a training row.
    pub fn split_by_time(
        &self,
        model: &str,
        validation_fraction: f64,
    ) -> Result<Split, ModelError> {
        let fail = |reason: &str| ModelError::Split {
            model: model.to_owned(),
            rows: self.rows(),
            reason: reason.to_owned(),
        };
        let mut order: Vec<usize> = (0..self.rows()).collect();
        order.sort_by_key(|&i| self.times[i]);
        let wanted = (self.rows() as f64 * (1.0 - validation_fraction)).round() as usize;
        let Some(&pivot) = order.get(wanted.min(self.rows().saturating_sub(1))) else {
            return Err(fail("there are no rows"));
        };
        let cutoff = self.times[pivot];
        let first_validation = order.partition_point(|&i| self.times[i] < cutoff);
        // When the pivot's instant starts the rows, validation would take everything: move the cutoff
        // to the next instant instead.
        let (first_validation, cutoff) = if first_validation == 0 {
            let next = order.partition_point(|&i| self.times[i] <= cutoff);
            (next, order.get(next).map_or(cutoff, |&i| self.times[i]))
        } else {
            (first_validation, cutoff)
        };
        if first_validation == 0 || first_validation == self.rows() {
            return Err(fail("every row has the same time"));
        }
        Ok(Split {
            train: self.select(&order[..first_validation]),
            validation: self.select(&order[first_validation..]),
            cutoff,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dataset(times: Vec<i64>) -> Dataset {
        let rows = times.len();
        Dataset {
            features: vec!["a".into(), "b".into()],
            values: (0..rows * 2).map(|x| x as f64).collect(),
            labels: (0..rows).map(|r| (r % 2) as f64).collect(),
            times,
        }
    }

    #[test]
    fn columns_and_rows_read_the_column_major_layout() {
        let d = dataset(vec![5, 6, 7]);
        assert_eq!(d.column(1), &[3.0, 4.0, 5.0]);
        assert_eq!(d.row(2), vec![2.0, 5.0]);
        assert_eq!(d.select(&[2, 0]).row(0), vec![2.0, 5.0]);
    }

    #[test]
    fn one_instant_cannot_be_split() {
        assert!(matches!(
            dataset(vec![3; 10]).split_by_time("m", 0.2),
            Err(ModelError::Split { .. })
        ));
    }

    #[test]
    fn the_fingerprint_follows_the_data() {
        let a = dataset(vec![1, 2, 3]);
        let mut b = a.clone();
        assert_eq!(a.fingerprint(), b.fingerprint());
        b.labels[0] = 1.0;
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    proptest! {
        /// Against the definition: every training row is strictly earlier than every validation row,
        /// nothing is lost or repeated, and both sides are non-empty.
        #[test]
        fn split_never_leaks_the_future(times in prop::collection::vec(0i64..20, 2..200), fraction in 0.05f64..0.6) {
            let d = dataset(times.clone());
            match d.split_by_time("m", fraction) {
                Ok(split) => {
                    let latest_train = split.train.times.iter().max().copied().unwrap_or(i64::MIN);
                    let earliest_validation = split.validation.times.iter().min().copied().unwrap_or(i64::MAX);
                    prop_assert!(latest_train < earliest_validation);
                    prop_assert_eq!(earliest_validation, split.cutoff);
                    prop_assert_eq!(split.train.rows() + split.validation.rows(), d.rows());
                    prop_assert!(split.train.rows() > 0 && split.validation.rows() > 0);
                    let mut all: Vec<i64> = split.train.times.iter().chain(&split.validation.times).copied().collect();
                    let mut expected = times;
                    all.sort_unstable();
                    expected.sort_unstable();
                    prop_assert_eq!(all, expected);
                }
                Err(_) => {
                    let first = times[0];
                    prop_assert!(times.iter().all(|&t| t == first));
                }
            }
        }
    }
}
