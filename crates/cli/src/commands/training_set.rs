//! `freshet training-set`: a point-in-time training set of a feature service, as Parquet.

use crate::cli::TrainingSetArgs;
use crate::output::{Failure, print_json, print_text};
use freshet_offline::training::{SpineInput, TrainingError, TrainingOptions, build_training_set};
use indicatif::HumanCount;
use std::path::Path;
use std::time::{Duration, Instant};

fn refused(e: &TrainingError) -> Failure {
    let help = match e {
        TrainingError::UnknownService { .. } => "pass --service with one of the listed names",
        TrainingError::NoLog { .. } => {
            "the event log is built by `freshet ingest` (files) or `freshet run` (streams)"
        }
        TrainingError::Spine(_) => {
            "fix the spine file, or the flags that describe it (--timestamp-column)"
        }
        TrainingError::MixedEntities { .. } | TrainingError::DuplicateColumn { .. } => {
            "see `freshet training-set --help`"
        }
        _ => "",
    };
    Failure::Refused {
        message: e.to_string(),
        help: help.to_owned(),
    }
}

pub(crate) fn run(dir: &Path, args: &TrainingSetArgs, json: bool) -> Result<(), Failure> {
    let project = super::load(dir)?;
    let input = match (&args.spine, &args.at) {
        (Some(path), None) => SpineInput::File {
            path: path.clone(),
            timestamp_column: args.timestamp_column.clone(),
        },
        (None, Some(at)) => {
            let micros = freshet_sources::decode::time::parse_timestamp(at, None).map_err(|e| {
                Failure::Refused {
                    message: format!("--at `{at}`: {}", e.reason),
                    help: e.help,
                }
            })?;
            SpineInput::At(micros)
        }
        _ => {
            return Err(Failure::Refused {
                message: "give either --spine FILE or --at TIMESTAMP".to_owned(),
                help:
                    "--spine builds one row per spine row; --at scores every entity at one instant"
                        .to_owned(),
            });
        }
    };
    if args.out.extension().and_then(|e| e.to_str()) != Some("parquet") {
        return Err(Failure::Refused {
            message: format!(
                "cannot write {}: training sets are Parquet",
                args.out.display()
            ),
            help: "name the output *.parquet".to_owned(),
        });
    }
    let defaults = TrainingOptions::default();
    let options = TrainingOptions {
        hindsight: args.hindsight,
        bare_names: args.bare_names,
        threads: args.threads.map_or(defaults.threads, usize::from),
    };
    let bar = crate::output::spinner(
        json,
        "{spinner} building the training set of {msg}  {elapsed}",
    );
    bar.set_message(args.service.clone());
    bar.enable_steady_tick(Duration::from_millis(120));
    let started = Instant::now();
    let runtime = super::runtime()?;
    let result = runtime.block_on(build_training_set(
        &project,
        &args.service,
        &input,
        &args.out,
        &options,
    ));
    bar.finish_and_clear();
    let report = result.map_err(|e| match e {
        TrainingError::Log(_) | TrainingError::Write { .. } => {
            Failure::Other(anyhow::Error::new(e))
        }
        other => refused(&other),
    })?;
    let seconds = started.elapsed().as_secs_f64();
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    if json {
        print_json(&serde_json::json!({"ok": true, "training_set": report, "seconds": seconds}));
        return Ok(());
    }
    let merged = if report.merged.is_empty() {
        String::new()
    } else {
        let tail = if report.tail_events > 0 {
            let events = if report.tail_events == 1 {
                "event"
            } else {
                "events"
            };
            format!(
                ", its {} {events} since the last compaction sorted for the run",
                HumanCount(report.tail_events)
            )
        } else {
            String::new()
        };
        format!(
            ", merged by key from the compacted log of {}{tail}",
            report.merged.join(", ")
        )
    };
    let mut text = format!(
        "wrote {} rows x {} columns to {} in {seconds:.2} s ({} events read{merged})\n",
        HumanCount(report.rows as u64),
        report.columns.len(),
        report.path.display(),
        HumanCount(report.events),
    );
    for (view, present) in &report.present {
        text.push_str(&format!(
            "  {view}: {} of {} rows found the entity\n",
            HumanCount(*present as u64),
            HumanCount(report.rows as u64)
        ));
    }
    print_text(&text);
    Ok(())
}
