//! `freshet ingest`: load batch sources (files, PostgreSQL tables and queries) into the event log, with
//! a progress bar and a dead-letter file.

use crate::cli::IngestArgs;
use crate::output::{Failure, print_json, print_text};
use freshet_offline::ingest::{
    FileReport, IngestError, IngestOptions, Progress, RelationReport, SourceReport,
    ingest_batch_source,
};
use freshet_offline::{SourceLog, offline_root, views_of_source};
use freshet_project::Project;
use freshet_project::spec::{Connector, SourceSpec};
use indicatif::{HumanCount, ProgressBar};
use std::path::Path;
use std::time::Instant;

fn is_batch(source: &SourceSpec) -> bool {
    matches!(
        source.connector,
        Connector::File { .. } | Connector::Postgres { .. }
    )
}

/// The batch sources to ingest: the one asked for, or all of them.
fn chosen<'p>(project: &'p Project, name: Option<&str>) -> Result<Vec<&'p SourceSpec>, Failure> {
    let batch: Vec<&SourceSpec> = project
        .spec
        .sources
        .iter()
        .filter(|s| is_batch(s))
        .collect();
    let names = || {
        let list: Vec<&str> = batch.iter().map(|s| s.name.as_str()).collect();
        if list.is_empty() {
            "the project declares no batch source; add one with `type: file` or `type: postgres`"
                .to_owned()
        } else {
            format!("batch sources: {}", list.join(", "))
        }
    };
    match name {
        None if batch.is_empty() => Err(Failure::Refused {
            message: "nothing to ingest".to_owned(),
            help: names(),
        }),
        None => Ok(batch),
        Some(name) => match project.spec.sources.iter().find(|s| s.name == name) {
            Some(s) if is_batch(s) => Ok(vec![s]),
            Some(s) => Err(Failure::Refused {
                message: format!(
                    "source `{name}` is a {} source; `freshet ingest` loads file and postgres sources",
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

/// Problems with a source's input (not with freshet or the log) are refusals: exit 2, with the fix.
fn failure(source: &SourceSpec, e: IngestError) -> Failure {
    match e {
        IngestError::NoFiles { .. } | IngestError::Read(_) | IngestError::Pattern { .. } => {
            Failure::Refused {
                message: e.to_string(),
                help: format!(
                    "check `path` of source `{}` in freshet.yaml, and the file itself",
                    source.name
                ),
            }
        }
        IngestError::Postgres(_) => Failure::Refused {
            message: e.to_string(),
            help: format!(
                "check `url` and `table` or `query` of source `{}` in freshet.yaml, and the server",
                source.name
            ),
        },
        other => Failure::Other(anyhow::Error::new(other)),
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
        let report = runtime.block_on(async {
            let mut log =
                SourceLog::open(&root, &source.name, &source.schema, &source.timestamp_field)
                    .await?;
            let views = views_of_source(&project, &source.name);
            ingest_batch_source(
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
        results.push((source.name.clone(), report.map_err(|e| failure(source, e))?));
    }
    let seconds = started.elapsed().as_secs_f64();
    if json {
        let sources: Vec<serde_json::Value> = results
            .iter()
            .map(|(name, report)| match report {
                SourceReport::Files(files) => serde_json::json!({"source": name, "files": files}),
                SourceReport::Relation(relation) => {
                    serde_json::json!({"source": name, "relation": relation})
                }
            })
            .collect();
        print_json(&serde_json::json!({"ok": true, "sources": sources, "seconds": seconds}));
    } else {
        let mut text = String::new();
        for (name, report) in &results {
            match report {
                SourceReport::Files(files) => {
                    for file in files {
                        text.push_str(&describe(name, file));
                    }
                }
                SourceReport::Relation(relation) => {
                    text.push_str(&describe_relation(name, relation))
                }
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

fn describe_relation(source: &str, report: &RelationReport) -> String {
    let mut line = format!(
        "{source}: {}: {} rows, {} added",
        report.relation,
        HumanCount(report.records),
        HumanCount(report.added)
    );
    if report.already_logged > 0 {
        line.push_str(&format!(
            ", {} already in the event log",
            HumanCount(report.already_logged)
        ));
    }
    if let Some(dead) = &report.dead_letter {
        line.push_str(&format!(
            ", {} rejected: see {}",
            HumanCount(report.rejected),
            dead.display()
        ));
    }
    line.push('\n');
    line
}
