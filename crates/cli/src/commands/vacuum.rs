//! `freshet vacuum`: delete the event log's files that no current version names, once past the
//! retention.

use crate::cli::VacuumArgs;
use crate::output::{Failure, print_json, print_text};
use freshet_offline::vacuum::{VacuumError, VacuumOptions, VacuumReport, vacuum};
use indicatif::{HumanBytes, HumanCount};
use std::path::Path;

pub(crate) fn run(dir: &Path, args: &VacuumArgs, json: bool) -> Result<(), Failure> {
    let project = super::load(dir)?;
    let runtime = super::runtime()?;
    let options = VacuumOptions {
        retain: args.retain.map(Into::into),
        force: args.force,
        dry_run: args.dry_run,
    };
    let reports = runtime
        .block_on(vacuum(&project, &args.sources, &options))
        .map_err(|e| match e {
            VacuumError::UnknownSource(unknown) => super::unknown_source(&unknown),
            VacuumError::RetentionTooShort { .. } => Failure::Refused {
                message: e.to_string(),
                help: "omit --retain to use the table's retention, or add --force if no other freshet process writes or reads this log".to_owned(),
            },
            other => Failure::Other(anyhow::Error::new(other)),
        })?;
    if json {
        print_json(&serde_json::json!({"ok": true, "sources": reports}));
    } else if reports.is_empty() {
        print_text(super::NO_LOG_YET);
    } else {
        print_text(&reports.iter().map(describe).collect::<String>());
    }
    Ok(())
}

fn describe(report: &VacuumReport) -> String {
    let retained = freshet_project::duration::Duration::from_millis(report.retained_ms);
    let files = HumanCount(report.files.len() as u64);
    let bytes = HumanBytes(report.bytes);
    let verb = if report.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let mut text = format!(
        "{}: {verb} {files} files ({bytes}) no longer current for over {retained}\n",
        report.source
    );
    if report.dry_run {
        for file in &report.files {
            text.push_str(&format!("  {}\n", file.display()));
        }
    }
    text
}
