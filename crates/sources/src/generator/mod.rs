//! The built-in event generator: seeded, deterministic synthetic streams for the product's scenarios.
//!
//! A generator is an endless (or bounded) iterator of rows in event-time order, each row a `Vec<Value>`
//! in the scenario's schema order (`freshet_project::scenarios`). The same configuration always yields
//! the same rows, on any machine: the random source is ChaCha8, whose output is specified, and no wall
//! clock is read. Batch files, live streams and benchmarks all draw from the same iterator.

mod live;
mod rides;

pub use live::{LiveConfig, LiveGenerator};
pub use rides::{RidesConfig, RidesGenerator};

use freshet_engine::Value;
use freshet_project::scenarios::Scenario;

/// The size and shape of a generated stream, common to every scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Number of distinct entities.
    pub entities: u64,
    /// Number of events to produce; `None` for an endless stream.
    pub events: Option<u64>,
    /// Days the events span (sets the average event rate when `events` is given).
    pub days: f64,
    /// Random seed.
    pub seed: u64,
    /// Event time of the start of the stream, microseconds since the epoch.
    pub start_micros: i64,
    /// 0 for mildly uneven entity activity; above 0, Zipf-skewed activity with this exponent.
    pub skew: f64,
    /// Events per simulated day, when set: overrides `events / days` (a live stream's pace).
    pub events_per_day: Option<f64>,
}

impl Default for GeneratorConfig {
    fn default() -> GeneratorConfig {
        GeneratorConfig {
            entities: 1_000,
            events: Some(100_000),
            days: 30.0,
            seed: 42,
            // 2026-01-01T00:00:00Z
            start_micros: 1_767_225_600_000_000,
            skew: 0.0,
            events_per_day: None,
        }
    }
}

/// Why a generator cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeneratorError {
    /// A setting is out of range.
    #[error("invalid generator setting: {0}")]
    Invalid(String),
}

/// A row source for any scenario.
pub fn generator(
    scenario: Scenario,
    config: &GeneratorConfig,
) -> Result<Box<dyn Iterator<Item = Vec<Value>> + Send>, GeneratorError> {
    match scenario {
        Scenario::Rides => Ok(Box::new(RidesGenerator::new(&RidesConfig::from(
            config.clone(),
        ))?)),
    }
}
