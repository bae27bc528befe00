//! Prometheus metrics of the feature server (`GET /metrics`): requests by route and status, latency
//! histograms by route, online-store errors, and the freshness of each view (seconds since the newest
//! event served from it).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: String,
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
    stream_events: Counter,
    stream_time: Gauge<f64, AtomicU64>,
    checkpoints: Counter,
    dead_letters: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Source {
    source: String,
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
        Metrics {
            registry,
            requests,
            latency,
            store_errors,
            freshness,
            stream_position,
            stream_events,
            stream_time,
            checkpoints,
            dead_letters,
        }
    }

    /// Counts a request and its time.
    pub fn observe(&self, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RouteStatus {
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&Route {
                route: route.to_owned(),
            })
            .observe(seconds);
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
    /// position, and the streams' clock.
    pub fn stream(
        &self,
        new_events: u64,
        new_checkpoints: u64,
        new_dead_letters: u64,
        positions: &[(String, u64)],
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
        self.stream_time.set(time_micros as f64 / 1e6);
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
