//! B2k's `--rate` step: events produced live at a fixed rate while the runtime consumes them, and a
//! marker probe timing each marker from its produce call until the feature server answers its count
//! (see the parent module for why the load batches and what the two halves' p99 show).

use super::{Args, COUNT_7D, events};
use crate::workload::HttpProbe;
use freshet_kafka::producer::Producer;
use freshet_runtime::RunOptions;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// Live production at `args.rate` with a marker probe; prints event-to-servable percentiles.
#[allow(clippy::print_stdout)]
pub(super) fn latency(
    args: &Args,
    brokers: &str,
    project: &freshet_project::Project,
) -> anyhow::Result<()> {
    let events = events(args)?;
    let stop = Arc::new(AtomicBool::new(false));
    let producing = {
        let (brokers, stop, rate, seconds) =
            (brokers.to_owned(), stop.clone(), args.rate, args.seconds);
        let linger = args.load_linger_ms.to_string();
        std::thread::spawn(move || -> anyhow::Result<u64> {
            let producer = Producer::with_options(&brokers, "trips", &[("linger.ms", &linger)])?;
            let started = Instant::now();
            let mut sent = 0u64;
            for (key, payload, _) in events.iter().cycle() {
                let due = started.elapsed().as_secs_f64() * rate;
                if (sent as f64) >= due {
                    std::thread::sleep(Duration::from_micros(200));
                    if started.elapsed().as_secs_f64() > seconds || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    continue;
                }
                let now_ms = chrono::Utc::now().timestamp_millis();
                // Event time now, so the events stay current however long the run.
                let _ = payload;
                let payload = format!(
                    r#"{{"driver_id":{key},"fare":1.5,"event_time":"{}"}}"#,
                    freshet_sources::formats::format_timestamp(now_ms * 1_000)
                );
                producer.send(key.to_string().as_bytes(), payload.as_bytes(), Some(now_ms))?;
                sent += 1;
            }
            producer.flush(Duration::from_secs(60))?;
            Ok(sent)
        })
    };
    // Two workers, as `freshet run` has: the log's append runs beside the rounds.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let marker = args.entities as i64 + 1;
    let (samples, reconnects) = runtime.block_on(async {
        let store = freshet_online::OnlineStore::open(project).await?;
        let def = project.views[0].def.clone();
        // The feature server in the same runtime, as `freshet run` has it: the probe asks it.
        let app = Arc::new(freshet_server::AppState::new(
            project,
            store.clone(),
            freshet_server::ServerConfig::default(),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let serving = tokio::spawn(freshet_server::serve(
            listener,
            app,
            crate::workload::stop_when(stop.clone()),
        ));
        let run = {
            let (project, store, stop) = (project.clone(), store.clone(), stop.clone());
            tokio::spawn(async move {
                let clock = Arc::new(AtomicI64::new(0));
                let stopping = crate::workload::stop_when(stop);
                freshet_runtime::run(
                    &project,
                    &store,
                    clock,
                    &RunOptions::default(),
                    stopping,
                    &mut |_| {},
                )
                .await
            })
        };
        // The probe sends each marker at once (no linger): the latency measured is from the
        // record leaving its producer to its value being servable, not the client's own batching.
        let probe = Producer::with_options(brokers, "trips", &[("linger.ms", "0")])?;
        let mut servable =
            HttpProbe::connect(address, &def.name, &def.features[COUNT_7D].name, marker).await?;
        let mut samples = Vec::new();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let started = Instant::now();
        // The first marker is warm-up: it waits out the group join and the backlog produced
        // meanwhile, which is start-up time, not the steady state the target is about.
        let mut count = 0i64;
        while started.elapsed().as_secs_f64() < args.seconds - 4.0 {
            count += 1;
            let now_ms = chrono::Utc::now().timestamp_millis();
            let payload = format!(
                r#"{{"driver_id":{marker},"fare":1.0,"event_time":"{}"}}"#,
                freshet_sources::formats::format_timestamp(now_ms * 1_000)
            );
            let sent = Instant::now();
            probe.send(
                marker.to_string().as_bytes(),
                payload.as_bytes(),
                Some(now_ms),
            )?;
            servable
                .await_count(count, sent, Duration::from_secs(10))
                .await?;
            if count > 1 {
                samples.push(sent.elapsed().as_secs_f64() * 1e3);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.store(true, Ordering::Relaxed);
        run.await??;
        serving.await??;
        anyhow::Ok((samples, servable.reconnects))
    })?;
    let sent = producing
        .join()
        .map_err(|_| anyhow::anyhow!("producer panicked"))??;
    anyhow::ensure!(
        samples.len() >= 2,
        "too few markers: run for longer (--seconds)"
    );
    if reconnects > 0 {
        println!(
            "probe:   its connection to the server failed {reconnects} times and was reopened"
        );
    }
    println!(
        "live:    {sent} events at {} events/s for {} s (load linger {} ms); {} markers after a warm-up marker",
        args.rate,
        args.seconds,
        args.load_linger_ms,
        samples.len()
    );
    let (first, second) = samples.split_at(samples.len() / 2);
    let all = percentiles(&samples);
    println!(
        "latency: event to servable p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; p99 of the first half {:.1} ms, of the second {:.1} ms",
        all.0,
        all.1,
        all.2,
        percentiles(first).1,
        percentiles(second).1
    );
    Ok(())
}

/// (p50, p99, max) of `samples`, which must not be empty.
fn percentiles(samples: &[f64]) -> (f64, f64, f64) {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let pct = |p: f64| sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)];
    (pct(0.5), pct(0.99), sorted[sorted.len() - 1])
}
