//! The closed set of aggregations a feature may use, and their typing rules.
//!
//! The list and the null rules are those of the semantics contract (PRODUCT.md section 3): nulls are skipped
//! by every aggregation except a row count; an empty window reads 0 for `count` and `sum` and null
//! otherwise; `stddev` and `variance` are the sample statistics (n - 1) and read null below two values.
//! Typing is decided here, once, so the project validator and the engine cannot disagree about it.

use crate::types::{DataType, FeatureType};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An aggregation over the events of one entity inside a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Rows (without a column) or non-null values (with one).
    Count,
    /// Sum of non-null values; integer for integer input.
    Sum,
    /// Arithmetic mean of non-null values.
    Mean,
    /// Smallest non-null value.
    Min,
    /// Largest non-null value.
    Max,
    /// Sample standard deviation (n - 1).
    Stddev,
    /// Sample variance (n - 1).
    Variance,
    /// Value of the earliest event by event time.
    First,
    /// Value of the latest event by event time.
    Last,
    /// The n most recent non-null values, newest first.
    LastN,
    /// Exact number of distinct non-null values.
    CountDistinct,
    /// HyperLogLog estimate of the number of distinct non-null values.
    ApproxCountDistinct,
}

/// Why an aggregation cannot be applied as configured.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AggregationTypeError {
    /// Every aggregation except `count` needs a column to aggregate.
    #[error("`{0}` needs a column to aggregate")]
    MissingColumn(Aggregation),
    /// The column's type is not accepted by the aggregation.
    #[error("`{aggregation}` cannot aggregate a {input} column; it accepts {accepted}")]
    IncompatibleType {
        /// The aggregation.
        aggregation: Aggregation,
        /// The column's type.
        input: DataType,
        /// A human list of the accepted types.
        accepted: &'static str,
    },
}

impl Aggregation {
    /// Every aggregation, in documentation order.
    pub const ALL: [Aggregation; 12] = [
        Aggregation::Count,
        Aggregation::Sum,
        Aggregation::Mean,
        Aggregation::Min,
        Aggregation::Max,
        Aggregation::Stddev,
        Aggregation::Variance,
        Aggregation::First,
        Aggregation::Last,
        Aggregation::LastN,
        Aggregation::CountDistinct,
        Aggregation::ApproxCountDistinct,
    ];

    /// The spelling used in `freshet.yaml`.
    pub fn name(self) -> &'static str {
        match self {
            Aggregation::Count => "count",
            Aggregation::Sum => "sum",
            Aggregation::Mean => "mean",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
            Aggregation::Stddev => "stddev",
            Aggregation::Variance => "variance",
            Aggregation::First => "first",
            Aggregation::Last => "last",
            Aggregation::LastN => "last_n",
            Aggregation::CountDistinct => "count_distinct",
            Aggregation::ApproxCountDistinct => "approx_count_distinct",
        }
    }

    /// Parses the spelling of [`Aggregation::name`].
    pub fn from_name(name: &str) -> Option<Aggregation> {
        Aggregation::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether the aggregation takes the `n` parameter (`last_n`), which is then required.
    pub fn takes_n(self) -> bool {
        self == Aggregation::LastN
    }

    /// The type of the feature this aggregation produces over a column of type `input` (`None`: no column,
    /// which only `count` accepts, meaning a row count).
    pub fn output_type(self, input: Option<DataType>) -> Result<FeatureType, AggregationTypeError> {
        use Aggregation as A;
        let Some(input) = input else {
            return match self {
                A::Count => Ok(FeatureType::Scalar(DataType::Int64)),
                other => Err(AggregationTypeError::MissingColumn(other)),
            };
        };
        let incompatible = |accepted| AggregationTypeError::IncompatibleType {
            aggregation: self,
            input,
            accepted,
        };
        match self {
            A::Count | A::CountDistinct | A::ApproxCountDistinct => {
                Ok(FeatureType::Scalar(DataType::Int64))
            }
            A::Sum if input.is_numeric() => Ok(FeatureType::Scalar(input)),
            A::Mean | A::Stddev | A::Variance if input.is_numeric() => {
                Ok(FeatureType::Scalar(DataType::Float64))
            }
            A::Sum | A::Mean | A::Stddev | A::Variance => Err(incompatible("int64 or float64")),
            A::Min | A::Max if input.is_ordered() => Ok(FeatureType::Scalar(input)),
            A::Min | A::Max => Err(incompatible("int64, float64, string or timestamp")),
            A::First | A::Last => Ok(FeatureType::Scalar(input)),
            A::LastN => Ok(FeatureType::List(input)),
        }
    }
}

impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Aggregation::ALL {
            assert_eq!(Aggregation::from_name(a.name()), Some(a));
        }
    }

    #[test]
    fn typing_rules() {
        use DataType::*;
        let scalar = FeatureType::Scalar;
        assert_eq!(Aggregation::Count.output_type(None), Ok(scalar(Int64)));
        assert_eq!(Aggregation::Sum.output_type(Some(Int64)), Ok(scalar(Int64)));
        assert_eq!(
            Aggregation::Sum.output_type(Some(Float64)),
            Ok(scalar(Float64))
        );
        assert_eq!(
            Aggregation::Mean.output_type(Some(Int64)),
            Ok(scalar(Float64))
        );
        assert_eq!(
            Aggregation::Max.output_type(Some(String)),
            Ok(scalar(String))
        );
        assert_eq!(
            Aggregation::LastN.output_type(Some(String)),
            Ok(FeatureType::List(String))
        );
        assert!(Aggregation::Sum.output_type(Some(String)).is_err());
        assert!(Aggregation::Min.output_type(Some(Bool)).is_err());
        assert_eq!(
            Aggregation::Sum.output_type(None),
            Err(AggregationTypeError::MissingColumn(Aggregation::Sum))
        );
    }
}
