//! The one conversion from a feature value to a model input, shared by training and serving.
//!
//! Models read `f64`s. Numbers are taken as they are, booleans as 0 and 1, timestamps as seconds since
//! the epoch; a feature with no value (null, `NOT_FOUND`, `OUTSIDE_MAX_AGE`) is `NaN`, which the trees
//! route down their learned missing-value branch and the linear baseline replaces with the training
//! mean. Text and lists are refused when a model is trained (see [`check_type`]), so they never reach
//! here in practice; if they do, they read as missing rather than as a made-up number.

use crate::ModelError;
use freshet_engine::{DataType, FeatureType, FeatureValue, Value};

/// The model input for one feature value.
pub fn model_input(value: &FeatureValue) -> f64 {
    match value {
        FeatureValue::Scalar(v) => scalar_input(v),
        FeatureValue::List(_) => f64::NAN,
    }
}

/// The model input for one scalar (also used for request-time values).
pub fn scalar_input(value: &Value) -> f64 {
    match value {
        Value::Int64(x) => *x as f64,
        Value::Float64(x) => *x,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Timestamp(t) => t.micros() as f64 / 1e6,
        Value::Null | Value::String(_) => f64::NAN,
    }
}

/// The model input for a request-time JSON value: numbers, booleans and null.
pub fn json_input(value: &serde_json::Value) -> Option<f64> {
    match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::Bool(b) => Some(f64::from(u8::from(*b))),
        serde_json::Value::Null => Some(f64::NAN),
        _ => None,
    }
}

/// Refuses features of a type a model cannot read.
pub fn check_type(feature: &str, feature_type: FeatureType) -> Result<(), ModelError> {
    match feature_type {
        FeatureType::Scalar(
            DataType::Int64 | DataType::Float64 | DataType::Bool | DataType::Timestamp,
        ) => Ok(()),
        other => Err(ModelError::UnsupportedFeature {
            feature: feature.to_owned(),
            data_type: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_engine::Timestamp;

    #[test]
    fn values_become_numbers_and_absence_becomes_nan() {
        assert_eq!(model_input(&FeatureValue::Scalar(Value::Int64(3))), 3.0);
        assert_eq!(model_input(&FeatureValue::Scalar(Value::Bool(true))), 1.0);
        assert_eq!(
            model_input(&FeatureValue::Scalar(Value::Timestamp(Timestamp(
                2_500_000
            )))),
            2.5
        );
        assert!(model_input(&FeatureValue::Scalar(Value::Null)).is_nan());
        assert!(json_input(&serde_json::json!(null)).is_some_and(f64::is_nan));
        assert_eq!(json_input(&serde_json::json!(1.5)), Some(1.5));
        assert_eq!(json_input(&serde_json::json!("x")), None);
        assert!(check_type("v:f", FeatureType::Scalar(DataType::String)).is_err());
        assert!(check_type("v:f", FeatureType::List(DataType::Int64)).is_err());
        assert!(check_type("v:f", FeatureType::Scalar(DataType::Int64)).is_ok());
    }
}
