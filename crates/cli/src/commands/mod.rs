//! One module per command; [`run()`] dispatches.

mod backfill;
mod compact;
mod demo;
mod generate;
mod generate_kafka;
mod get;
mod history;
mod ingest;
mod init;
mod model;
mod plan;
mod predict;
mod run;
mod serve;
mod serving;
mod train;
mod training_set;
mod upkeep;
mod vacuum;
mod validate;

use crate::cli::{Cli, Command};
use crate::output::Failure;
use anyhow::Context;
use freshet_project::{LoadError, ProcessEnv, Project, load_project};
use std::path::Path;

/// Runs the command the user asked for.
pub(crate) fn run(cli: &Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Init(args) => init::run(args.dir.as_deref().unwrap_or(&cli.project_dir), cli.json),
        Command::Validate => validate::run(&cli.project_dir, cli.json),
        Command::Plan => plan::plan(&cli.project_dir, cli.json),
        Command::Apply(args) => plan::apply(&cli.project_dir, args.force, cli.json),
        Command::Generate(args) => generate::run(args, cli.json),
        Command::History(args) => history::run(&cli.project_dir, args.number, cli.json),
        Command::Ingest(args) => ingest::run(&cli.project_dir, args, cli.json),
        Command::TrainingSet(args) => training_set::run(&cli.project_dir, args, cli.json),
        Command::Backfill(args) => backfill::run(&cli.project_dir, args, cli.json),
        Command::Compact(args) => compact::run(&cli.project_dir, args, cli.json),
        Command::Vacuum(args) => vacuum::run(&cli.project_dir, args, cli.json),
        Command::Serve(args) => serve::run(&cli.project_dir, args),
        Command::Run(args) => run::run(&cli.project_dir, args, cli.json),
        Command::Get(args) => get::run(&cli.project_dir, args, cli.json),
        Command::Demo(args) => demo::run(args, cli.json),
        Command::Train(args) => train::run(&cli.project_dir, args, cli.json),
        Command::Model(args) => model::run(&cli.project_dir, args, cli.json),
        Command::Predict(args) => predict::run(&cli.project_dir, args, cli.json),
    }
}

/// Loads the project, turning a missing file and validation errors into invalid-input failures.
pub(crate) fn load(dir: &Path) -> Result<Project, Failure> {
    match load_project(dir, &ProcessEnv) {
        Ok(project) => Ok(project),
        Err(LoadError::Invalid(d)) => Err(Failure::Invalid(d)),
        Err(LoadError::Read { path, source }) if source.kind() == std::io::ErrorKind::NotFound => {
            Err(Failure::Refused {
                message: format!("no project file at {}", path.display()),
                help: format!(
                    "run `freshet init {}` to create one, or pass -p with the project directory",
                    dir.display()
                ),
            })
        }
        Err(e) => Err(Failure::Other(anyhow::Error::new(e))),
    }
}

/// Reads the registry's newest version, with the registry path in any error.
pub(crate) fn latest(
    dir: &Path,
) -> Result<Option<freshet_project::registry::AppliedVersion>, Failure> {
    let registry = freshet_project::registry::Registry::for_project(dir);
    Ok(registry
        .latest()
        .with_context(|| format!("reading the registry in {}", registry.dir().display()))?)
}

/// An instant given on the command line (RFC 3339 with a zone), in microseconds.
pub(crate) fn parse_instant(flag: &str, text: &str) -> Result<i64, Failure> {
    freshet_sources::decode::time::parse_timestamp(text, None).map_err(|e| Failure::Refused {
        message: format!("{flag} `{text}`: {}", e.reason),
        help: e.help,
    })
}

/// A Tokio runtime for commands that touch the event log (Delta Lake is async) or serve HTTP: see
/// [`worker_threads`] for its size.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    // Set, `TOKIO_WORKER_THREADS` is read by Tokio itself.
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        builder.worker_threads(worker_threads(cores));
    }
    builder
        .enable_all()
        .build()
        .context("starting the async runtime")
        .map_err(Failure::Other)
}

/// The runtime's worker threads for the `cores` this process may use: one per core, so that a server
/// on a larger host uses all of them, and at least two, so that decoding overlaps with writing even
/// where a container grants a single core.
fn worker_threads(cores: usize) -> usize {
    cores.max(2)
}

/// The refusal of a log maintenance command's `--source` that names no declared source.
pub(crate) fn unknown_source(error: &freshet_offline::UnknownSource) -> Failure {
    Failure::Refused {
        message: error.to_string(),
        help: "pass --source with one of the listed names, or none for every source".to_owned(),
    }
}

/// What a log maintenance command says when none of the sources it was given has a log.
pub(crate) const NO_LOG_YET: &str =
    "no source chosen has an event log yet; run `freshet ingest` or `freshet run` first\n";

#[cfg(test)]
mod tests {
    use super::worker_threads;

    #[test]
    fn one_worker_per_core_and_at_least_two() {
        assert_eq!(worker_threads(1), 2);
        assert_eq!(worker_threads(2), 2);
        assert_eq!(worker_threads(16), 16);
    }
}
