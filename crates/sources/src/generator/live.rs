//! The generator as a live stream: events released in real time at a configured rate, optionally on
//! an accelerated clock.
//!
//! With `rate` events per wall-clock second and `speedup` simulated seconds per wall-clock second, the
//! scenario is generated with `rate / speedup` events per simulated second, starting at `start_micros`;
//! at wall time `w` after the start, the simulated clock reads `start + w * speedup` and every event with
//! an event time at or before it is due. The stream is the same deterministic iterator as batch files
//! use, so event `n` (its position) is always the same event: a runtime restoring a checkpoint at
//! position `n` skips the first `n` events and continues exactly where it stopped. Nothing here reads a
//! clock; the caller says what time it is.

use super::{GeneratorConfig, GeneratorError, generator};
use freshet_engine::Value;
use freshet_project::scenarios::Scenario;
use std::time::Duration;

/// Settings of a live stream.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveConfig {
    /// The scenario.
    pub scenario: Scenario,
    /// Distinct entities.
    pub entities: u64,
    /// Random seed.
    pub seed: u64,
    /// Events per wall-clock second.
    pub rate: f64,
    /// Simulated seconds per wall-clock second (1: real time).
    pub speedup: f64,
    /// Simulated time of the stream's start, microseconds since the epoch.
    pub start_micros: i64,
    /// Simulated days over which the scenario's slow effects (churn) play out, from the first event.
    pub days: f64,
    /// Simulated history before `start_micros` (microseconds): the stream's first events are this
    /// much older than its start and are all due at once, so a fresh stream begins with a past.
    pub history_micros: i64,
}

impl LiveConfig {
    /// The batch generator settings this stream draws from (its events start `history` early).
    pub fn common(&self) -> GeneratorConfig {
        GeneratorConfig {
            entities: self.entities,
            events: None,
            days: self.days,
            seed: self.seed,
            start_micros: self.start_micros.saturating_sub(self.history_micros),
            skew: 0.0,
            events_per_day: Some(self.rate / self.speedup * 86_400.0),
        }
    }
}

/// A live stream of one scenario.
pub struct LiveGenerator {
    rows: Box<dyn Iterator<Item = Vec<Value>> + Send>,
    next: Option<Vec<Value>>,
    position: u64,
    time_column: usize,
    start_micros: i64,
    speedup: f64,
}

impl std::fmt::Debug for LiveGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveGenerator")
            .field("position", &self.position)
            .field("speedup", &self.speedup)
            .finish()
    }
}

fn event_time(row: &[Value], column: usize) -> i64 {
    match row.get(column) {
        Some(Value::Timestamp(t)) => t.micros(),
        _ => i64::MAX,
    }
}

impl LiveGenerator {
    /// A stream for `config`, at position 0.
    pub fn new(config: &LiveConfig) -> Result<LiveGenerator, GeneratorError> {
        let positive = |x: f64| x > 0.0 && x.is_finite();
        if !positive(config.rate) || !positive(config.speedup) {
            return Err(GeneratorError::Invalid(
                "rate and speedup must be positive".to_owned(),
            ));
        }
        if config.history_micros < 0 {
            return Err(GeneratorError::Invalid(
                "history must not be negative".to_owned(),
            ));
        }
        let common = config.common();
        let time_column = config
            .scenario
            .schema()
            .iter()
            .position(|f| f.data_type == freshet_engine::DataType::Timestamp)
            .unwrap_or(0);
        Ok(LiveGenerator {
            rows: generator(config.scenario, &common)?,
            next: None,
            position: 0,
            time_column,
            start_micros: config.start_micros,
            speedup: config.speedup,
        })
    }

    /// The simulated time `wall_elapsed` after the stream started.
    pub fn simulated_now(&self, wall_elapsed: Duration) -> i64 {
        let micros = wall_elapsed.as_secs_f64() * 1e6 * self.speedup;
        self.start_micros.saturating_add(micros as i64)
    }

    /// How many events were released so far: the next event's position.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Up to `max` events with event time at or before `until` (simulated microseconds), each with its
    /// position, in order.
    pub fn due(&mut self, until: i64, max: usize) -> Vec<(u64, Vec<Value>)> {
        let mut out = Vec::new();
        while out.len() < max {
            let row = match self.next.take() {
                Some(row) => row,
                None => match self.rows.next() {
                    Some(row) => row,
                    None => break,
                },
            };
            if event_time(&row, self.time_column) > until {
                self.next = Some(row);
                break;
            }
            out.push((self.position, row));
            self.position += 1;
        }
        out
    }

    /// Skips to position `position` (from a checkpoint): the events before it are generated and dropped.
    pub fn skip_to(&mut self, position: u64) {
        while self.position < position {
            if self.next.take().is_none() && self.rows.next().is_none() {
                break;
            }
            self.position += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(rate: f64, speedup: f64) -> LiveGenerator {
        LiveGenerator::new(&LiveConfig {
            scenario: Scenario::Rides,
            entities: 100,
            seed: 7,
            rate,
            speedup,
            start_micros: 0,
            days: 30.0,
            history_micros: 0,
        })
        .unwrap()
    }

    #[test]
    fn events_are_released_when_due_at_the_configured_rate() {
        let mut stream = live(1_000.0, 60.0);
        let mut released = 0;
        for second in 1..=20u64 {
            let until = stream.simulated_now(Duration::from_secs(second));
            let batch = stream.due(until, usize::MAX);
            assert!(batch.iter().all(|(_, row)| event_time(row, 2) <= until));
            released += batch.len();
        }
        // 20 wall seconds at 1,000 events/s: a Poisson count, within 5 % of 20,000.
        assert!((19_000..=21_000).contains(&released), "{released}");
        assert_eq!(stream.position(), released as u64);
    }

    #[test]
    fn history_is_due_at_once_and_older_than_the_start() {
        let mut stream = LiveGenerator::new(&LiveConfig {
            history_micros: 86_400_000_000,
            start_micros: 100 * 86_400_000_000,
            ..config_for_tests()
        })
        .unwrap();
        let now = stream.simulated_now(Duration::ZERO);
        let past = stream.due(now, usize::MAX);
        // A simulated day at 1,000 events per second and a speedup of 60: about 1.44 million
        // events; the first is a day old.
        assert!(
            (1_400_000..1_480_000).contains(&past.len()),
            "{}",
            past.len()
        );
        assert!(event_time(&past[0].1, 2) < 99 * 86_400_000_000 + 60_000_000);
    }

    fn config_for_tests() -> LiveConfig {
        LiveConfig {
            scenario: Scenario::Rides,
            entities: 100,
            seed: 7,
            rate: 1_000.0,
            speedup: 60.0,
            start_micros: 0,
            days: 30.0,
            history_micros: 0,
        }
    }

    #[test]
    fn skipping_to_a_position_continues_the_same_stream() {
        let mut whole = live(500.0, 10.0);
        let all = whole.due(whole.simulated_now(Duration::from_secs(10)), usize::MAX);
        let mut resumed = live(500.0, 10.0);
        resumed.skip_to(1_234);
        let rest = resumed.due(resumed.simulated_now(Duration::from_secs(10)), usize::MAX);
        assert_eq!(rest.first().map(|e| e.0), Some(1_234));
        assert_eq!(rest, all[1_234..]);
        // A batch cut by `max` resumes at the next event.
        let mut capped = live(500.0, 10.0);
        let first = capped.due(i64::MAX, 10);
        let second = capped.due(i64::MAX, 10);
        assert_eq!((first[9].0, second[0].0), (9, 10));
    }

    #[test]
    fn bad_settings_are_refused() {
        let mut config = LiveConfig {
            scenario: Scenario::Rides,
            entities: 100,
            seed: 7,
            rate: 0.0,
            speedup: 1.0,
            start_micros: 0,
            days: 30.0,
            history_micros: 0,
        };
        assert!(LiveGenerator::new(&config).is_err());
        config.rate = 10.0;
        config.speedup = f64::NAN;
        assert!(LiveGenerator::new(&config).is_err());
    }
}
