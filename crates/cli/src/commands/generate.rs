//! `freshet generate`: seeded synthetic events to a file or a Kafka topic, with a progress bar.
//!
//! To Kafka, events are JSON records keyed by the scenario's entity key (so each entity's events share
//! a partition, as `freshet run` requires) and timestamped with their event time; with `--rate` they
//! are released live by the scenario's clock, like a generator source in `freshet run`.

use crate::cli::GenerateArgs;
use crate::output::{Failure, print_json, print_text};
use freshet_project::scenarios::Scenario;
use freshet_project::spec::FileFormat;
use freshet_sources::formats::write_rows;
use freshet_sources::generator::{GeneratorConfig, generator};
use indicatif::ProgressBar;
use std::time::Instant;

pub(super) fn refused(message: String, help: &str) -> Failure {
    Failure::Refused {
        message,
        help: help.to_owned(),
    }
}

/// The scenario's events over `--days`, as `--out` and `--to` without `--rate` write them.
pub(super) fn historical_rows(
    scenario: Scenario,
    args: &GenerateArgs,
) -> Result<impl Iterator<Item = Vec<freshet_engine::Value>> + use<>, Failure> {
    let config = GeneratorConfig {
        entities: args.entities,
        events: Some(args.events),
        days: args.days,
        seed: args.seed,
        skew: args.skew,
        ..GeneratorConfig::default()
    };
    generator(scenario, &config).map_err(|e| {
        refused(
            e.to_string(),
            "see `freshet generate --help` for valid values",
        )
    })
}

/// The progress bar of `events` events (hidden with `--json`).
pub(super) fn progress_bar(events: u64, json: bool) -> ProgressBar {
    crate::output::progress_bar(
        json,
        events,
        "{spinner} {bar:40} {human_pos}/{human_len} events  {per_sec}  eta {eta}",
    )
}

pub(crate) fn run(args: &GenerateArgs, json: bool) -> Result<(), Failure> {
    let Some(scenario) = Scenario::from_name(&args.scenario) else {
        let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
        return Err(refused(
            format!("unknown scenario `{}`", args.scenario),
            &format!("choose one of: {}", names.join(", ")),
        ));
    };
    if let Some(to) = &args.to {
        return super::generate_kafka::run(scenario, args, to, json);
    }
    let Some(out) = &args.out else {
        return Err(refused(
            "say where the events go".to_owned(),
            "give --out FILE or --to kafka://host:port/topic",
        ));
    };
    let extension = out
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let format = match extension.as_str() {
        "parquet" => FileFormat::Parquet,
        "jsonl" | "ndjson" => FileFormat::JsonLines,
        _ => {
            return Err(refused(
                format!("cannot tell the output format of {}", out.display()),
                "name the file *.parquet or *.jsonl",
            ));
        }
    };
    let rows = historical_rows(scenario, args)?;
    let bar = progress_bar(args.events, json);
    let started = Instant::now();
    let written = write_rows(out, format, &scenario.schema(), rows, &mut |n| {
        bar.set_position(n)
    })
    .map_err(|e| Failure::Other(anyhow::Error::new(e)))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    if json {
        print_json(&serde_json::json!({
            "ok": true,
            "scenario": scenario.name(),
            "events": written,
            "path": out.display().to_string(),
            "seconds": seconds,
        }));
    } else {
        print_text(&format!(
            "wrote {written} {} events ({} entities over {} days, seed {}) to {} in {seconds:.1} s\n",
            scenario.name(),
            args.entities,
            args.days,
            args.seed,
            out.display()
        ));
    }
    Ok(())
}
