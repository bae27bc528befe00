//! The open-loop HTTP load generator B1 and B5 share, and how their figures are read.
//!
//! Request i is due at `start + i / rate` whatever happened to earlier ones, and its latency counts
//! from when it was due, so a stall in the server shows up in the figures instead of slowing the
//! sender (the "coordinated omission" a closed-loop client would hide).

use rand::{RngExt, SeedableRng};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Connections the load generator keeps open; request i goes to connection i mod CONNECTIONS.
pub(crate) const CONNECTIONS: usize = 64;

/// One load step: what to send, how fast, for how long.
pub(crate) struct Load {
    pub(crate) address: SocketAddr,
    /// The route, e.g. `/predict`.
    pub(crate) path: &'static str,
    pub(crate) rate: u64,
    pub(crate) seconds: f64,
    /// Random drivers per request, drawn from `1..=entities`.
    pub(crate) per_request: usize,
    pub(crate) entities: u64,
    pub(crate) seed: u64,
    /// The JSON body for a comma-separated list of driver ids.
    pub(crate) body: fn(&str) -> String,
}

/// The latencies of one load step.
pub(crate) struct Step {
    pub(crate) sent: usize,
    pub(crate) ok: usize,
    pub(crate) seconds: f64,
    latencies: Vec<Duration>,
}

impl Step {
    /// `{answered} req/s answered ({ok} of {sent} ok), p50 .., p99 .., p99.9 ..`.
    pub(crate) fn summary(&self) -> String {
        format!(
            "{:.0} req/s answered ({} of {} ok), p50 {}, p99 {}, p99.9 {}",
            self.ok as f64 / self.seconds,
            self.ok,
            self.sent,
            micros(self.percentile(0.5)),
            micros(self.percentile(0.99)),
            micros(self.percentile(0.999)),
        )
    }

    pub(crate) fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }
}

/// A duration in whole microseconds, for reports.
pub(crate) fn micros(d: Duration) -> String {
    format!("{:.0} us", d.as_secs_f64() * 1e6)
}

impl Load {
    /// Request bodies, seeded, built before the clock starts.
    fn bodies(&self) -> Vec<bytes::Bytes> {
        let total = (self.rate as f64 * self.seconds) as usize;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
        (0..total)
            .map(|_| {
                let ids: Vec<String> = (0..self.per_request)
                    .map(|_| rng.random_range(1..=self.entities).to_string())
                    .collect();
                bytes::Bytes::from((self.body)(&ids.join(",")))
            })
            .collect()
    }

    /// Sends the step's requests open-loop over [`CONNECTIONS`] persistent HTTP/1.1 connections. A
    /// request waits for its connection if the previous one on it is slow, and that wait counts in
    /// its latency.
    pub(crate) async fn run(&self) -> Step {
        let bodies = self.bodies();
        let total = bodies.len();
        let interval = Duration::from_secs_f64(1.0 / self.rate as f64);
        let start = Instant::now() + Duration::from_millis(50);
        let mut lanes: Vec<Vec<(Instant, bytes::Bytes)>> = vec![Vec::new(); CONNECTIONS];
        for (i, body) in bodies.into_iter().enumerate() {
            lanes[i % CONNECTIONS].push((start + interval * i as u32, body));
        }
        let mut tasks = tokio::task::JoinSet::new();
        for lane in lanes {
            tasks.spawn(send_lane(self.address, self.path, lane));
        }
        let mut latencies = Vec::with_capacity(total);
        let mut ok = 0;
        while let Some(done) = tasks.join_next().await {
            for (success, latency) in done.unwrap_or_default() {
                ok += usize::from(success);
                latencies.push(latency);
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        latencies.sort_unstable();
        Step {
            sent: total,
            ok,
            seconds,
            latencies,
        }
    }
}

/// One connection's requests, each sent when due; returns (succeeded, latency) per request.
async fn send_lane(
    address: SocketAddr,
    path: &'static str,
    lane: Vec<(Instant, bytes::Bytes)>,
) -> Vec<(bool, Duration)> {
    let mut results = Vec::with_capacity(lane.len());
    let Ok(stream) = tokio::net::TcpStream::connect(address).await else {
        return results;
    };
    let _ = stream.set_nodelay(true);
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await
    else {
        return results;
    };
    tokio::spawn(connection);
    let mut previous_done = Instant::now();
    for (due, body) in lane {
        tokio::time::sleep_until(due.into()).await;
        // Latency counts from when the request was due if the connection was still busy with the
        // previous one (the server's delay); otherwise from when the timer woke us, so the timer's
        // millisecond granularity is not charged to the server.
        let counted_from = if previous_done > due {
            due
        } else {
            Instant::now()
        };
        let request = hyper::Request::post(path)
            .header("host", "bench")
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(body));
        let ok = match request {
            Ok(request) => match sender.send_request(request).await {
                Ok(response) => {
                    let success = response.status().is_success();
                    use http_body_util::BodyExt;
                    success && response.into_body().collect().await.is_ok()
                }
                Err(_) => false,
            },
            Err(_) => false,
        };
        previous_done = Instant::now();
        results.push((ok, previous_done - counted_from));
    }
    results
}

/// The report line of [`server_side`] after a step at `rate`.
pub(crate) fn server_side_line(metrics: &str, route: &str, rate: u64) -> String {
    let (p50, p99) = server_side(metrics, route);
    format!(
        "      server-side, after {rate} req/s: p50 <= {:.0} us, p99 <= {:.0} us (histogram bucket bounds, all requests so far)",
        p50 * 1e6,
        p99 * 1e6
    )
}

/// The server's own p50 and p99 for `route`, in seconds, from its latency histogram in the
/// Prometheus text `metrics`: time inside the server, without the network or the load generator's
/// scheduling. Bucket upper bounds, over all requests so far.
fn server_side(metrics: &str, route: &str) -> (f64, f64) {
    let buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter(|l| {
            l.starts_with("freshet_http_request_duration_seconds_bucket") && l.contains(route)
        })
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let count = l.rsplit(' ').next()?.parse::<f64>().ok()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count))
        })
        .collect();
    let total = buckets.last().map_or(0.0, |b| b.1);
    let quantile = |q: f64| {
        buckets
            .iter()
            .find(|b| b.1 >= q * total)
            .map_or(f64::NAN, |b| b.0)
    };
    (quantile(0.5), quantile(0.99))
}
