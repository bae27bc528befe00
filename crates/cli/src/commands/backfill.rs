//! `freshet backfill`: rebuild the serving state of feature views from the event log.

use crate::cli::BackfillArgs;
use crate::output::{Failure, print_json, print_text};
use freshet_offline::backfill::{BackfillError, BackfillOptions, Progress, ViewBackfill, backfill};
use indicatif::HumanCount;
use std::path::Path;
use std::time::{Duration, Instant};

pub(crate) fn run(dir: &Path, args: &BackfillArgs, json: bool) -> Result<(), Failure> {
    let project = super::load(dir)?;
    let options = BackfillOptions {
        checkpoint_interval: Duration::from_secs_f64(args.checkpoint_interval.max(0.0)),
    };
    let bar = crate::output::progress_bar(
        json,
        0,
        "{spinner} {msg} {bar:30} {pos}/{len} log files  {elapsed}",
    );
    let mut view = String::new();
    let mut progress = |p: Progress| match p {
        Progress::View { name, files } => {
            bar.reset();
            bar.set_length(files as u64);
            bar.set_message(name.clone());
            view = name;
        }
        Progress::Files(files, events) => {
            bar.set_position(files as u64);
            bar.set_message(format!("{view}: {} events", HumanCount(events)));
        }
        Progress::Materializing { name, entities } => {
            bar.set_message(format!(
                "{name}: writing {} entities to the online store",
                HumanCount(entities as u64)
            ));
        }
    };
    let started = Instant::now();
    let runtime = super::runtime()?;
    let result = runtime.block_on(backfill(&project, &args.views, &options, &mut progress));
    bar.finish_and_clear();
    let reports = result.map_err(|e| match e {
        BackfillError::Store(_) => Failure::Refused {
            message: e.to_string(),
            help: "start the online store, or check `online_store` in freshet.yaml".to_owned(),
        },
        BackfillError::UnknownView { .. } => Failure::Refused {
            message: e.to_string(),
            help: "pass --view with one of the listed names, or none for every view".to_owned(),
        },
        other => Failure::Other(anyhow::Error::new(other)),
    })?;
    let seconds = started.elapsed().as_secs_f64();
    if json {
        print_json(&serde_json::json!({"ok": true, "views": reports, "seconds": seconds}));
    } else {
        let text: String = reports.iter().map(describe).collect();
        print_text(&text);
    }
    Ok(())
}

fn describe(view: &ViewBackfill) -> String {
    if view.up_to_date {
        return format!(
            "{}: up to date ({} log files, {} entities), nothing changed; {} records in the online store\n",
            view.view,
            view.files_skipped,
            HumanCount(view.entities as u64),
            HumanCount(view.materialized as u64)
        );
    }
    let mut line = format!(
        "{}: {} events from {} log files, {} entities -> {}",
        view.view,
        HumanCount(view.events_read),
        view.files_read,
        HumanCount(view.entities as u64),
        view.path.display()
    );
    if view.files_skipped > 0 {
        line.push_str(&format!(
            " (continued: {} files were already in the state)",
            view.files_skipped
        ));
    }
    if let Some(why) = &view.rebuilt {
        line.push_str(&format!(" (rebuilt from scratch: {why})"));
    }
    line.push_str(&format!(
        "; {} records written to the online store",
        HumanCount(view.materialized as u64)
    ));
    line.push('\n');
    line
}
