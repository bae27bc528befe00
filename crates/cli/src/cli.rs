//! Command-line arguments. Every command takes `-p/--project-dir` and `--json`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  freshet init rides             write a starter project into ./rides
  freshet validate -p rides      check rides/freshet.yaml and list every problem
  freshet plan -p rides          show what `apply` would record, marking breaking changes
  freshet apply -p rides         record the project as the next registry version
  freshet history -p rides       list applied versions";

/// freshet: define ML features once in YAML, compute them continuously, serve them and train on them.
#[derive(Debug, Parser)]
#[command(name = "freshet", version, about, after_help = EXAMPLES, propagate_version = true)]
pub(crate) struct Cli {
    /// The project directory, holding freshet.yaml.
    #[arg(
        short = 'p',
        long = "project-dir",
        global = true,
        default_value = ".",
        value_name = "DIR"
    )]
    pub(crate) project_dir: PathBuf,

    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Write a starter project that validates and runs with no external service.
    #[command(
        after_help = "Examples:\n  freshet init            into the current directory\n  freshet init rides      into ./rides (created if needed)"
    )]
    Init(InitArgs),

    /// Check freshet.yaml and report every problem with its location and fix.
    #[command(
        after_help = "Examples:\n  freshet validate -p rides\n  freshet validate --json    one JSON object per problem, for editors and CI"
    )]
    Validate,

    /// Show what `apply` would change in the registry, marking breaking changes.
    #[command(after_help = "Examples:\n  freshet plan -p rides\n  freshet plan --json")]
    Plan,

    /// Record the project as the next registry version (refuses breaking changes without --force).
    #[command(
        after_help = "A breaking change alters values already served (a feature's aggregation, column,\nwindow; a view's filter, source or entities). Rename the feature, or bump the view's\n`version`, to apply it as something new; or pass --force to change it in place.\n\nExamples:\n  freshet apply -p rides\n  freshet apply --force"
    )]
    Apply(ApplyArgs),

    /// Write seeded synthetic events of a scenario to a Parquet or JSON-lines file.
    #[command(
        after_help = "The same arguments always produce the same file. Scenarios: rides (ride-hailing trips\nper driver, with a planted churn signal).\n\nExamples:\n  freshet generate --out trips.parquet\n  freshet generate --scenario rides --events 10000000 --entities 100000 --days 30 --seed 7 --out w1.parquet\n  freshet generate --events 1000 --out sample.jsonl"
    )]
    Generate(GenerateArgs),

    /// List applied registry versions, or show one.
    #[command(
        after_help = "Examples:\n  freshet history           every version, newest last\n  freshet history 3 --json  version 3 with its full project spec"
    )]
    History(HistoryArgs),
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Where to create the project; defaults to the project directory (-p).
    pub(crate) dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// Apply breaking changes in place.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// The scenario to simulate.
    #[arg(long, default_value = "rides")]
    pub(crate) scenario: String,
    /// Number of events.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) events: u64,
    /// Number of distinct entities.
    #[arg(long, default_value_t = 1_000)]
    pub(crate) entities: u64,
    /// Days the events span.
    #[arg(long, default_value_t = 30.0)]
    pub(crate) days: f64,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// Zipf exponent for skewed entity activity (0: mildly uneven).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) skew: f64,
    /// Output file: .parquet or .jsonl.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// Show this version in full instead of listing all.
    #[arg(value_name = "VERSION")]
    pub(crate) number: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn arguments_are_consistent() {
        Cli::command().debug_assert();
    }
}
