//! The built-in generator's scenarios, as far as the project model needs to know them.
//!
//! A `generator` source names a scenario instead of declaring a schema; this catalogue is the single
//! place that says which columns each scenario's events carry. The generator itself must produce exactly
//! these columns (its tests check it against this list).

use crate::spec::Field;
use freshet_engine::DataType;

/// A synthetic event stream the generator can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Ride-hailing trips: one event per trip of a driver, with a planted churn signal.
    Rides,
}

impl Scenario {
    /// Every scenario.
    pub const ALL: [Scenario; 1] = [Scenario::Rides];

    /// The name used in `freshet.yaml` and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Rides => "rides",
        }
    }

    /// Looks a scenario up by name.
    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    /// One line for `--help` and the docs.
    pub fn description(self) -> &'static str {
        match self {
            Scenario::Rides => "ride-hailing trips per driver (entity `driver`, key `driver_id`)",
        }
    }

    /// The columns of each event, in order.
    pub fn schema(self) -> Vec<Field> {
        let f = |name: &str, data_type| Field {
            name: name.to_owned(),
            data_type,
        };
        match self {
            Scenario::Rides => vec![
                f("trip_id", DataType::String),
                f("driver_id", DataType::Int64),
                f("event_time", DataType::Timestamp),
                f("fare", DataType::Float64),
                f("distance", DataType::Float64),
                f("status", DataType::String),
            ],
        }
    }

    /// The column identifying each event's entity: what records are keyed by in Kafka.
    pub fn key_field(self) -> &'static str {
        match self {
            Scenario::Rides => "driver_id",
        }
    }

    /// The column holding each event's event time.
    pub fn timestamp_field(self) -> &'static str {
        match self {
            Scenario::Rides => "event_time",
        }
    }
}
