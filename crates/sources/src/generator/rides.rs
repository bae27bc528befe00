//! Ride-hailing trips: one event per trip of a driver, with a planted churn signal.
//!
//! Events form a Poisson process of constant rate (`events / days`); each event's driver is drawn by
//! activity weight (log-normal, or Zipf-skewed). A fraction of drivers *churn* at a random time in the
//! second half of the span: in the week before, their trips thin out linearly; afterwards they keep
//! only 3 % of their activity, and churners cancel more often. So "activity dropping" (e.g. trips in 24h
//! low against trips in 7d) genuinely predicts churn, which the model issue relies on.

use super::{GeneratorConfig, GeneratorError};
use freshet_engine::{Timestamp, Value};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::weighted::WeightedAliasIndex;
use rand_distr::{Distribution, Exp, LogNormal, Normal};
use std::sync::Arc;

const DAY: f64 = 86_400_000_000.0;
const WEEK: f64 = 7.0 * DAY;

/// Rides-specific settings on top of the common ones.
#[derive(Debug, Clone, PartialEq)]
pub struct RidesConfig {
    /// Size, span, seed, skew.
    pub common: GeneratorConfig,
    /// Fraction of drivers who churn (0 to 1).
    pub churn_fraction: f64,
}

impl From<GeneratorConfig> for RidesConfig {
    fn from(common: GeneratorConfig) -> RidesConfig {
        RidesConfig {
            common,
            churn_fraction: 0.25,
        }
    }
}

#[derive(Debug, Clone)]
struct Driver {
    churn_at: Option<f64>,
    cancel_rate: f64,
    fare_per_km: f64,
}

/// The rides stream. Rows: `trip_id, driver_id, event_time, fare, distance, status`.
#[derive(Debug)]
pub struct RidesGenerator {
    rng: ChaCha8Rng,
    pick: WeightedAliasIndex<f64>,
    drivers: Vec<Driver>,
    gap: Exp<f64>,
    distance: LogNormal<f64>,
    noise: Normal<f64>,
    now: f64,
    start: f64,
    produced: u64,
    limit: Option<u64>,
    trip_prefix: Arc<str>,
}

impl RidesGenerator {
    /// A stream for `config`.
    pub fn new(config: &RidesConfig) -> Result<RidesGenerator, GeneratorError> {
        let c = &config.common;
        let invalid = |m: &str| Err(GeneratorError::Invalid(m.to_owned()));
        if c.entities == 0 || c.entities > 100_000_000 {
            return invalid("entities must be between 1 and 100,000,000");
        }
        if !(c.days > 0.0 && c.days.is_finite()) {
            return invalid("days must be positive");
        }
        if !(0.0..=1.0).contains(&config.churn_fraction) || c.skew < 0.0 || !c.skew.is_finite() {
            return invalid("churn fraction must be in [0, 1] and skew at least 0");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(c.seed);
        let span = c.days * DAY;
        let activity =
            LogNormal::new(0.0, 0.5).map_err(|e| GeneratorError::Invalid(e.to_string()))?;
        let weights: Vec<f64> = (0..c.entities)
            .map(|i| {
                if c.skew > 0.0 {
                    1.0 / ((i + 1) as f64).powf(c.skew)
                } else {
                    activity.sample(&mut rng)
                }
            })
            .collect();
        let drivers = (0..c.entities)
            .map(|_| {
                let churns = rng.random_bool(config.churn_fraction);
                Driver {
                    churn_at: churns.then(|| span * rng.random_range(0.5..1.0)),
                    cancel_rate: if churns {
                        rng.random_range(0.12..0.25)
                    } else {
                        rng.random_range(0.03..0.10)
                    },
                    fare_per_km: rng.random_range(1.0..2.0),
                }
            })
            .collect();
        let events_per_day = c.events_per_day.unwrap_or_else(|| {
            c.events
                .map_or(c.entities as f64 * 10.0, |n| n as f64 / c.days)
        });
        if !(events_per_day > 0.0 && events_per_day.is_finite()) {
            return invalid("the event rate must be positive");
        }
        let err = |e: String| GeneratorError::Invalid(e);
        Ok(RidesGenerator {
            pick: WeightedAliasIndex::new(weights).map_err(|e| err(e.to_string()))?,
            drivers,
            gap: Exp::new(events_per_day / DAY).map_err(|e| err(e.to_string()))?,
            distance: LogNormal::new(5f64.ln(), 0.6).map_err(|e| err(e.to_string()))?,
            noise: Normal::new(0.0, 1.0).map_err(|e| err(e.to_string()))?,
            rng,
            now: 0.0,
            start: c.start_micros as f64,
            produced: 0,
            limit: c.events,
            trip_prefix: Arc::from(format!("t{:x}-", c.seed)),
        })
    }

    /// When driver `driver_id` churns (microseconds since the epoch), if ever: the label source of truth.
    pub fn churn_time(&self, driver_id: i64) -> Option<i64> {
        let index = usize::try_from(driver_id.checked_sub(1)?).ok()?;
        let at = self.drivers.get(index)?.churn_at?;
        Some((self.start + at) as i64)
    }

    /// Churn labels from the ground truth: at each observation instant from `from` to `until` (every
    /// `every` microseconds), one row per driver still active then, labelled whether the driver churns
    /// within `horizon` after it. Rows are `(driver_id, observed_at, churned)`.
    pub fn churn_labels(
        &self,
        from: i64,
        until: i64,
        every: i64,
        horizon: i64,
    ) -> Vec<(i64, i64, bool)> {
        let mut rows = Vec::new();
        if every <= 0 {
            return rows;
        }
        let mut t = from;
        while t <= until {
            for id in 1..=self.drivers.len() as i64 {
                match self.churn_time(id) {
                    Some(at) if at <= t => {}
                    churn => rows.push((id, t, churn.is_some_and(|at| at <= t + horizon))),
                }
            }
            t += every;
        }
        rows
    }

    /// Whether a trip of `driver` at simulated time `now` happens, given churn.
    fn active(&mut self, driver: usize) -> bool {
        let Some(churn_at) = self.drivers[driver].churn_at else {
            return true;
        };
        let keep = if self.now >= churn_at {
            0.03
        } else {
            ((churn_at - self.now) / WEEK).clamp(0.03, 1.0)
        };
        self.rng.random_bool(keep)
    }
}

impl Iterator for RidesGenerator {
    type Item = Vec<Value>;

    fn next(&mut self) -> Option<Vec<Value>> {
        if self.limit.is_some_and(|l| self.produced >= l) {
            return None;
        }
        self.now += self.gap.sample(&mut self.rng);
        // Redraw the driver until an active one takes the trip; bounded, since most drivers never churn.
        let mut driver = self.pick.sample(&mut self.rng);
        for _ in 0..64 {
            if self.active(driver) {
                break;
            }
            driver = self.pick.sample(&mut self.rng);
        }
        let d = &self.drivers[driver];
        let (cancel_rate, fare_per_km) = (d.cancel_rate, d.fare_per_km);
        let distance = (self.distance.sample(&mut self.rng) * 100.0).round() / 100.0;
        let fare = ((2.5 + distance * fare_per_km + self.noise.sample(&mut self.rng)).max(2.5)
            * 100.0)
            .round()
            / 100.0;
        let roll: f64 = self.rng.random();
        let status = if roll < cancel_rate {
            "cancelled"
        } else if roll < cancel_rate + 0.02 {
            "no_show"
        } else {
            "completed"
        };
        self.produced += 1;
        Some(vec![
            Value::String(Arc::from(format!("{}{}", self.trip_prefix, self.produced))),
            Value::Int64(driver as i64 + 1),
            Value::Timestamp(Timestamp((self.start + self.now) as i64)),
            Value::Float64(fare),
            Value::Float64(distance),
            Value::from(status),
        ])
    }
}
