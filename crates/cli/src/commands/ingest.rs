//! `freshet ingest`: load file sources into the event log, with a progress bar and a dead-letter file.

use crate::cli::IngestArgs;
use crate::output::{Failure, print_json, print_text};
use freshet_offline::ingest::{FileReport, IngestOptions, Progress, ingest_source};
use freshet_offline::{SourceLog, offline_root, views_of_source};
use freshet_project::Project;
use freshet_project::spec::{Connector, SourceSpec};
use indicatif::{HumanCount, ProgressBar};
use std::path::Path;
use std::time::Instant;

/// The file sources to ingest: the one asked for, or all of them.
fn chosen<'p>(project: &'p Project, name: Option<&str>) -> Result<Vec<&'p SourceSpec>, Failure> {
    let files: Vec<&SourceSpec> = project
        .spec
        .sources
        .iter()
        .filter(|s| matches!(s.connector, Connector::File { .. }))
        .collect();
    let names = || {
        let list: Vec<&str> = files.iter().map(|s| s.name.as_str()).collect();
        if list.is_empty() {
            "the project declares no file source; add one with `type: file`".to_owned()
        } else {
            format!("file sources: {}", list.join(", "))
        }
    };
    match name {
        None if files.is_empty() => Err(Failure::Refused {
            message: "nothing to ingest".to_owned(),
            help: names(),
        }),
        None => Ok(files),
        Some(name) => match project.spec.sources.iter().find(|s| s.name == name) {
            Some(s) if matches!(s.connector, Connector::File { .. }) => Ok(vec![s]),
            Some(s) => Err(Failure::Refused {
                message: format!(
                    "source `{name}` is a {} source; `freshet ingest` loads file sources",
                    s.connector.kind()
                ),
                help: names(),
            }),
            None => Err(Failure::Refused {
                message: format!("unknown source `{name}`"),
                help: names(),
            }),
        },
    }
}

fn bar(json: bool) -> ProgressBar {
    crate::output::spinner(
        json,
        "{spinner} {msg}: {human_pos} records  {per_sec}  {elapsed}",
    )
}

pub(crate) fn run(dir: &Path, args: &IngestArgs, json: bool) -> Result<(), Failure> {
    let project = super::load(dir)?;
    let sources = chosen(&project, args.source.as_deref())?;
    let root = offline_root(&project);
    let options = IngestOptions {
        chunk_records: args.chunk_records,
    };
    let runtime = super::runtime()?;
    let started = Instant::now();
    let mut results = Vec::new();
    for source in sources {
        let bar = bar(json);
        bar.set_message(source.name.clone());
        let mut progress = |p: Progress| match p {
            Progress::File { .. } => bar.set_position(0),
            Progress::Records(n) => bar.set_position(n),
        };
        let reports = runtime.block_on(async {
            let mut log =
                SourceLog::open(&root, &source.name, &source.schema, &source.timestamp_field)
                    .await?;
            let views = views_of_source(&project, &source.name);
            ingest_source(
                &mut log,
                &project.dir,
                &root,
                source,
                &views,
                &options,
                &mut progress,
            )
            .await
        });
        bar.finish_and_clear();
        let reports = reports.map_err(|e| match e {
            freshet_offline::ingest::IngestError::NoFiles { .. }
            | freshet_offline::ingest::IngestError::Read(_)
            | freshet_offline::ingest::IngestError::Pattern { .. } => Failure::Refused {
                message: e.to_string(),
                help: format!(
                    "check `path` of source `{}` in freshet.yaml, and the file itself",
                    source.name
                ),
            },
            other => Failure::Other(anyhow::Error::new(other)),
        })?;
        results.push((source.name.clone(), reports));
    }
    let seconds = started.elapsed().as_secs_f64();
    if json {
        let sources: Vec<serde_json::Value> = results
            .iter()
            .map(|(name, files)| serde_json::json!({"source": name, "files": files}))
            .collect();
        print_json(&serde_json::json!({"ok": true, "sources": sources, "seconds": seconds}));
    } else {
        let mut text = String::new();
        for (name, files) in &results {
            for file in files {
                text.push_str(&describe(name, file));
            }
        }
        print_text(&text);
    }
    Ok(())
}

fn describe(source: &str, file: &FileReport) -> String {
    let path = file.path.display();
    if file.already_logged {
        return format!("{source}: {path}: already in the event log, nothing added\n");
    }
    let mut line = format!(
        "{source}: {path}: {} records, {} added",
        HumanCount(file.records),
        HumanCount(file.added)
    );
    if file.resumed_after > 0 {
        line.push_str(&format!(
            " (resumed after {} records an interrupted run had logged)",
            HumanCount(file.resumed_after)
        ));
    }
    if let Some(dead) = &file.dead_letter {
        line.push_str(&format!(
            ", {} rejected: see {}",
            HumanCount(file.rejected),
            dead.display()
        ));
    }
    line.push('\n');
    line
}
