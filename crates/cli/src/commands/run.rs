//! `freshet run`: the streams flowing through the event log, the engine and the online store, and the
//! feature server answering as of the streams' clock, until Ctrl-C, SIGTERM or `--duration`.

use crate::cli::RunArgs;
use crate::output::{Failure, print_json, print_text};
use freshet_runtime::{RunOptions, Status};
use freshet_server::{AppState, Clock, ServerConfig};
use indicatif::HumanCount;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

pub(crate) fn run(dir: &Path, args: &RunArgs, json: bool) -> Result<(), Failure> {
    let project = super::load(dir)?;
    let serving = project.spec.serving.clone();
    let clock = Arc::new(AtomicI64::new(chrono::Utc::now().timestamp_micros()));
    let config = ServerConfig {
        clock: Clock::Manual(clock.clone()),
        ..super::serving::server_config(&serving)
    };
    let options = RunOptions {
        duration: args.duration.map(Duration::from_secs_f64),
        checkpoint_interval: Duration::from_secs_f64(args.checkpoint_interval.max(0.05)),
        // The flags' parser admits only seconds a `Duration` holds.
        log_commit_interval: Duration::from_secs_f64(args.log_commit_interval),
        ..RunOptions::default()
    };
    let upkeep = super::upkeep::Upkeep {
        compact_every: args.compact_every.map(Into::into),
        vacuum_every: args.vacuum_every.map(Into::into),
    };
    let bar = crate::output::spinner(json, "{spinner} {msg}");
    let runtime = super::runtime()?;
    let result: Result<Status, Failure> = runtime.block_on(async {
        let store = super::serving::open_store(&project).await?;
        let (listener, address) =
            super::serving::listen(&serving.host, args.port.unwrap_or(serving.port)).await?;
        let state = Arc::new(AppState::new(&project, store.clone(), config));
        let metrics = state.clone();
        let upkept = state.clone();
        let report: super::upkeep::Report = Box::new(move |kind, succeeded| {
            let now = chrono::Utc::now().timestamp_millis() as f64 / 1e3;
            upkept.metrics.upkeep(kind, succeeded, now);
        });
        // Stops (after what it is doing) when this block ends and drops it.
        let _upkeep = super::upkeep::start(project.clone(), upkeep, report).map_err(|e| {
            Failure::Other(anyhow::anyhow!(
                "could not start the event log's upkeep: {e}"
            ))
        })?;
        let promotions = tokio::spawn(freshet_server::predict::follow_promotions(
            state.clone(),
            project.clone(),
            super::serve::PROMOTION_CHECK,
        ));
        let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(freshet_server::serve(listener, state, async {
            let _ = server_stopped.await;
        }));
        if !json {
            bar.println(format!("serving on http://{address}; Ctrl-C stops"));
        }
        let mut reported = Status::default();
        let mut status = |s: Status| {
            super::serving::publish_status(&metrics.metrics, &reported, &s);
            let at = chrono::DateTime::from_timestamp_micros(s.simulated_now)
                .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M:%S").to_string());
            let dead = if s.dead_letters > 0 {
                format!(", {} dead letters", HumanCount(s.dead_letters))
            } else {
                String::new()
            };
            bar.set_message(format!(
                "{} events ({:.0}/s), stream time {at}, {} checkpoints{dead}",
                HumanCount(s.events),
                s.events_per_second,
                s.checkpoints
            ));
            bar.tick();
            reported = s;
        };
        let outcome = freshet_runtime::run(
            &project,
            &store,
            clock,
            &options,
            freshet_server::shutdown_signal(),
            &mut status,
        )
        .await;
        promotions.abort();
        let _ = stop_server.send(());
        let _ = server.await;
        outcome.map_err(|e| Failure::Other(anyhow::Error::new(e)))
    });
    bar.finish_and_clear();
    let report = result?;
    if json {
        print_json(&serde_json::json!({"ok": true, "run": report}));
    } else {
        let resumed = report
            .resumed_from
            .map_or_else(String::new, |c| format!(" (resumed from checkpoint {c})"));
        print_text(&format!(
            "stopped after {} events{resumed}; {} checkpoints written\n",
            HumanCount(report.events),
            report.checkpoints
        ));
    }
    Ok(())
}
