//! Prometheus metrics of the feature server (`GET /metrics`): requests by route and status, latency
//! histograms by route, online-store errors, and the freshness of each view (seconds since the newest
//! event served from it); inside `freshet run`, the streams' progress and the event log's upkeep.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct View {
    view: String,
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteStatus, Counter>,
    latency: Family<Route, Histogram>,
    store_errors: Counter,
    freshness: Family<View, Gauge<f64, AtomicU64>>,
    stream_position: Family<Source, Gauge>,
    log_pending: Family<Source, Gauge>,
    stream_events: Counter,
    stream_time: Gauge<f64, AtomicU64>,
    checkpoints: Counter,
    dead_letters: Counter,
    predictions: Family<Model, Counter>,
    predictions_total: Counter,
    upkeep: Family<UpkeepOutcome, Counter>,
    upkeep_success: Family<UpkeepKind, Gauge<f64, AtomicU64>>,
    /// The latest request latencies of the lookup and predict routes (`f64` bits, 0 for an empty
    /// slot), for a live p99: a ring written with one atomic add and one store, no lock.
    recent: Box<[AtomicU64]>,
    recent_next: std::sync::atomic::AtomicUsize,
}

/// Latencies kept for [`Metrics::recent_p99`].
const RECENT: usize = 2_048;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Model {
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Source {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpkeepOutcome {
    kind: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpkeepKind {
    kind: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("freshet");
        let requests = Family::<RouteStatus, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        // 50 us to about 3 s.
        let latency = Family::<Route, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route",
            latency.clone(),
        );
        let store_errors = Counter::default();
        registry.register(
            "online_store_errors",
            "Online store operations that failed",
            store_errors.clone(),
        );
        let freshness = Family::<View, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "view_freshness_seconds",
            "Seconds between now and the newest event served from each feature view",
            freshness.clone(),
        );
        let stream_position = Family::<Source, Gauge>::default();
        registry.register(
            "stream_position",
            "Next position of each streaming source (events released so far)",
            stream_position.clone(),
        );
        let log_pending = Family::<Source, Gauge>::default();
        registry.register(
            "event_log_pending_rows",
            "Events of each stream applied and served but not yet committed to its event log",
            log_pending.clone(),
        );
        let stream_events = Counter::default();
        registry.register(
            "stream_events",
            "Events processed by freshet run",
            stream_events.clone(),
        );
        let stream_time = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "stream_time_seconds",
            "The streams' clock (simulated time, seconds since the epoch)",
            stream_time.clone(),
        );
        let dead_letters = Counter::default();
        registry.register(
            "stream_dead_letters",
            "Records streaming sources could not decode or validate, written to dead-letter files",
            dead_letters.clone(),
        );
        let checkpoints = Counter::default();
        registry.register(
            "checkpoints",
            "Checkpoints written by freshet run",
            checkpoints.clone(),
        );
        let predictions = Family::<Model, Counter>::default();
        registry.register(
            "predictions",
            "Predictions served, by model (one per entity)",
            predictions.clone(),
        );
        let upkeep = Family::<UpkeepOutcome, Counter>::default();
        registry.register(
            "event_log_upkeep",
            "Compactions and vacuums of the event logs run by freshet run, by kind and outcome",
            upkeep.clone(),
        );
        let upkeep_success = Family::<UpkeepKind, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "event_log_upkeep_last_success_seconds",
            "When each kind of event-log upkeep last succeeded (seconds since the epoch), to alert on",
            upkeep_success.clone(),
        );
        Metrics {
            predictions,
            predictions_total: Counter::default(),
            upkeep,
            upkeep_success,
            recent: (0..RECENT).map(|_| AtomicU64::new(0)).collect(),
            recent_next: std::sync::atomic::AtomicUsize::new(0),
            registry,
            requests,
            latency,
            store_errors,
            freshness,
            stream_position,
            log_pending,
            stream_events,
            stream_time,
            checkpoints,
            dead_letters,
        }
    }

    /// Counts `n` predictions of `model`.
    pub fn predicted(&self, model: &str, n: usize) {
        self.predictions
            .get_or_create(&Model {
                model: model.to_owned(),
            })
            .inc_by(n as u64);
        self.predictions_total.inc_by(n as u64);
    }

    /// Predictions served since the server started, over every model.
    pub fn predictions_served(&self) -> u64 {
        self.predictions_total.get()
    }

    /// The 99th percentile of the latest lookup and predict latencies, in seconds.
    pub fn recent_p99(&self) -> Option<f64> {
        let mut sorted: Vec<f64> = self
            .recent
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .filter(|&bits| bits != 0)
            .map(f64::from_bits)
            .collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let rank = ((sorted.len() as f64) * 0.99).ceil() as usize;
        sorted.get(rank.saturating_sub(1)).copied()
    }

    /// Counts a request and its time. Routes are a closed set, so their labels are static and a
    /// request allocates nothing to be counted.
    pub fn observe(&self, route: &'static str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RouteStatus { route, status })
            .inc();
        self.latency
            .get_or_create(&Route { route })
            .observe(seconds);
        if matches!(route, "/get-online-features" | "/predict") {
            let slot = self.recent_next.fetch_add(1, Ordering::Relaxed) % RECENT;
            // A latency of exactly zero is stored as the smallest positive one, so 0 stays "empty".
            self.recent[slot].store(seconds.max(f64::MIN_POSITIVE).to_bits(), Ordering::Relaxed);
        }
    }

    /// Counts a failed store operation.
    pub fn store_error(&self) {
        self.store_errors.inc();
    }

    /// Records how old the newest event served from `view` is.
    pub fn freshness(&self, view: &str, seconds: f64) {
        self.freshness
            .get_or_create(&View {
                view: view.to_owned(),
            })
            .set(seconds);
    }

    /// Records a streaming run's progress: events, checkpoints and dead letters since the last call, each source's
    /// position, each stream's events not yet in its event log, and the streams' clock.
    pub fn stream(
        &self,
        new_events: u64,
        new_checkpoints: u64,
        new_dead_letters: u64,
        positions: &[(String, u64)],
        log_pending: &[(String, u64)],
        time_micros: i64,
    ) {
        self.stream_events.inc_by(new_events);
        self.dead_letters.inc_by(new_dead_letters);
        self.checkpoints.inc_by(new_checkpoints);
        for (source, position) in positions {
            self.stream_position
                .get_or_create(&Source {
                    source: source.clone(),
                })
                .set(i64::try_from(*position).unwrap_or(i64::MAX));
        }
        for (source, rows) in log_pending {
            self.log_pending
                .get_or_create(&Source {
                    source: source.clone(),
                })
                .set(i64::try_from(*rows).unwrap_or(i64::MAX));
        }
        self.stream_time.set(time_micros as f64 / 1e6);
    }

    /// Counts one turn of the event log's upkeep of `kind` (`compaction`, `vacuum`), and when it
    /// succeeded, its time (seconds since the epoch).
    pub fn upkeep(&self, kind: &str, succeeded: bool, at_seconds: f64) {
        let outcome = if succeeded { "ok" } else { "failed" };
        self.upkeep
            .get_or_create(&UpkeepOutcome {
                kind: kind.to_owned(),
                outcome,
            })
            .inc();
        if succeeded {
            self.upkeep_success
                .get_or_create(&UpkeepKind {
                    kind: kind.to_owned(),
                })
                .set(at_seconds);
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upkeep_turns_are_counted_by_kind_and_outcome_and_successes_timed() {
        let metrics = Metrics::new();
        metrics.upkeep("compaction", true, 1_000.0);
        metrics.upkeep("compaction", false, 2_000.0);
        metrics.upkeep("compaction", true, 3_000.0);
        metrics.upkeep("vacuum", false, 4_000.0);
        let text = metrics.encode();
        for line in [
            r#"freshet_event_log_upkeep_total{kind="compaction",outcome="ok"} 2"#,
            r#"freshet_event_log_upkeep_total{kind="compaction",outcome="failed"} 1"#,
            r#"freshet_event_log_upkeep_total{kind="vacuum",outcome="failed"} 1"#,
            r#"freshet_event_log_upkeep_last_success_seconds{kind="compaction"} 3000.0"#,
        ] {
            assert!(text.contains(line), "{line} not in {text}");
        }
        // A kind that never succeeded has no time to alert on yet.
        assert!(
            !text.contains(r#"last_success_seconds{kind="vacuum"}"#),
            "{text}"
        );
    }
}
