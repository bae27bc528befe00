//! `freshet compact`: rewrite each day of the event log as one file sorted by entity.

use crate::cli::CompactArgs;
use crate::output::{Failure, print_json, print_text};
use freshet_offline::compact::{
    CompactError, CompactOptions, CompactProgress, CompactReport, compact,
};
use indicatif::HumanCount;
use std::path::Path;
use std::time::Instant;

pub(crate) fn run(dir: &Path, args: &CompactArgs, json: bool) -> Result<(), Failure> {
    let project = super::load(dir)?;
    let bar = crate::output::progress_bar(
        json,
        0,
        "{spinner} {msg} {bar:30} {pos}/{len} days  {elapsed}",
    );
    let mut progress = |p: CompactProgress| {
        bar.set_length(p.runs as u64);
        bar.set_position(p.done as u64);
        bar.set_message(format!("{}: {} events", p.source, HumanCount(p.events)));
    };
    let started = Instant::now();
    let runtime = super::runtime()?;
    let options = CompactOptions {
        max_rows_per_file: args.max_rows_per_file.max(1),
    };
    let result = runtime.block_on(compact(&project, &args.sources, &options, &mut progress));
    bar.finish_and_clear();
    let reports = result.map_err(|e| match e {
        CompactError::UnknownSource(unknown) => super::unknown_source(&unknown),
        other => Failure::Other(anyhow::Error::new(other)),
    })?;
    let seconds = started.elapsed().as_secs_f64();
    if json {
        print_json(&serde_json::json!({"ok": true, "sources": reports, "seconds": seconds}));
    } else if reports.is_empty() {
        print_text(super::NO_LOG_YET);
    } else {
        let text: String = reports.iter().map(describe).collect();
        print_text(&text);
    }
    Ok(())
}

fn describe(report: &CompactReport) -> String {
    if report.busy {
        return format!(
            "{}: another compaction of this log is running; left to it, nothing changed\n",
            report.source
        );
    }
    let order = report.sorted_by.join(", ");
    match report.version {
        None => format!(
            "{}: already compacted ({} days, sorted by {order}), nothing changed\n",
            report.source, report.days_unchanged
        ),
        Some(version) => format!(
            "{}: {} days rewritten ({} files -> {}), {} events sorted by {order}; {} days already compacted; log version {version}\n",
            report.source,
            report.days_rewritten,
            report.files_removed,
            report.files_added,
            HumanCount(report.events),
            report.days_unchanged
        ),
    }
}
