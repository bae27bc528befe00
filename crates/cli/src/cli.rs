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

    /// Load batch sources (files, PostgreSQL tables and queries) into the event log.
    #[command(
        after_help = "Each file is committed in chunks, atomically. Ingesting a file already in the log (under\nany name) adds nothing; an interrupted ingest resumes where it stopped. A PostgreSQL source\nis read in one snapshot and adds only the rows the log does not hold yet. Records that fail\nthe schema or a feature view's checks go to a dead-letter file, with their row and reason.\n\nExamples:\n  freshet ingest -p examples/clickstream            every batch source\n  freshet ingest --source clicks --json"
    )]
    Ingest(IngestArgs),

    /// Build a point-in-time training set of a feature service from the event log.
    #[command(
        after_help = "Each spine row (its join keys, a timestamp and any labels, passed through unchanged) gets\nevery feature of the service as of its timestamp, knowing only what had been ingested by\nthen (--hindsight: everything). Columns are named view__feature, with a view__status\ncolumn per view (PRESENT, NOT_FOUND, OUTSIDE_MAX_AGE).\n\nExamples:\n  freshet training-set --service driver_activity --spine labels.parquet --out train.parquet\n  freshet training-set --service driver_activity --at 2026-01-31T00:00:00Z --out scores.parquet"
    )]
    TrainingSet(TrainingSetArgs),

    /// Everything at once with no external service: stream, compute, train, serve and predict.
    #[command(
        after_help = "Creates a temporary project (or --dir), streams the ride-hailing generator on an accelerated\nclock (one simulated hour per second) after releasing --history of past at once, trains\nthe churn model on that history, and serves features and predictions until Ctrl-C or\n--duration.\n\nExamples:\n  freshet demo\n  freshet demo --duration 60 --port 7000\n  freshet demo --dir demo-project    keep the project to explore it afterwards"
    )]
    Demo(DemoArgs),

    /// Train a model on its labels with point-in-time features, and store it as the next version.
    #[command(
        after_help = "The model's labels (its `label.source`: files of a file source, else the source's event\nlog) become the spine of a point-in-time training set of its feature service. The rows are\nsplit by time: the latest --validation-fraction validate, so the metrics measure the future.\nGradient-boosted trees are compared with a linear baseline fitted on the same rows.\n\nExamples:\n  freshet train --model churn\n  freshet train --model churn --promote --json"
    )]
    Train(TrainArgs),

    /// List a model's versions, promote one to production, or roll back.
    #[command(
        after_help = "Examples:\n  freshet model list\n  freshet model list churn\n  freshet model promote churn 3\n  freshet model rollback churn"
    )]
    Model(ModelArgs),

    /// Predict with a model's production version: online for entities, or batch for a spine file.
    #[command(
        after_help = "Online (--entity) reads the entity's features from the online store, as POST /predict does;\nbatch (--spine) computes each row's features as of its timestamp, as training does, and\nwrites the spine with the inputs and a `prediction` column.\n\nExamples:\n  freshet predict --model churn --entity driver_id=7\n  freshet predict --model churn --entity driver_id=7 --set driver_trips:trips_24h=0\n  freshet predict --model churn --spine drivers.parquet --out scores.parquet"
    )]
    Predict(PredictArgs),

    /// Rebuild the serving state of feature views from the event log.
    #[command(
        after_help = "Each view's state is saved to .freshet/state/<view>.state. An interrupted backfill continues\nfrom its last checkpoint; a state that covers the whole log is left unchanged; files the log\ngained since are added (or, if they reach below evicted history, the view is rebuilt).\n\nExamples:\n  freshet backfill -p examples/clickstream\n  freshet backfill --view user_activity --json"
    )]
    Backfill(BackfillArgs),

    /// Rewrite each day of the event log as one file sorted by entity (Delta's OPTIMIZE).
    #[command(
        after_help = "Appends leave many files per day (one per ingest chunk or streaming round), and an entity's\nevents spread over all of them. Compaction rewrites each day as one file sorted by the\nentity key, then time: training sets and backfills read fewer files and find each entity's\nevents together. No event changes: each day is replaced in one atomic commit, days already\ncompacted are left alone, and old files stay on disk for readers of older versions until\n`freshet vacuum` deletes them.\n\nExamples:\n  freshet compact -p rides\n  freshet compact --source trips --json"
    )]
    Compact(CompactArgs),

    /// Delete the event log's files no current version names, once past the retention (Delta's VACUUM).
    #[command(
        after_help = "Compaction leaves the files it replaced on disk for readers of older versions, and an\nappend interrupted by a crash leaves files no commit names. Vacuum deletes both once they\nare older than the retention: the table's delta.deletedFileRetentionDuration (7 days unless\nset) by default. A shorter --retain is refused unless --force, which is safe only while no\nother freshet process uses the log (it could delete an append's files before its commit).\n\nExamples:\n  freshet vacuum -p rides --dry-run\n  freshet vacuum --source trips --retain 1d --force --json"
    )]
    Vacuum(VacuumArgs),

    /// Run the project's streams into the event log, the engine and the online store, and serve.
    #[command(
        after_help = "Streams every Kafka and generator source, ingests file sources with `every:` on their\nschedule, and serves features and predictions meanwhile. Checkpoints\nare written every --checkpoint-interval seconds and on stop; a restarted run resumes from\nthe newest one, with nothing lost or counted twice.\n\n--compact-every and --vacuum-every keep the event log small meanwhile, as freshet compact\nand freshet vacuum would from cron.\n\nExamples:\n  freshet run -p rides                  until Ctrl-C\n  freshet run -p rides --duration 60    one minute\n  freshet run -p rides --compact-every 1h --vacuum-every 1d"
    )]
    Run(RunArgs),

    /// Serve online features over HTTP (Feast-compatible) from the online store.
    #[command(
        after_help = "Routes: POST /get-online-features, GET /health, GET /metrics, GET /openapi.json.\nSeveral servers can share one Redis. Ctrl-C or SIGTERM stops after in-flight requests.\n\nExamples:\n  freshet serve -p rides\n  curl -s localhost:6566/get-online-features -d '{\"feature_service\": \"driver_activity\", \"entities\": {\"driver_id\": [1]}}'\n  API_TOKEN=s3cret freshet serve --auth-token-env API_TOKEN --host 0.0.0.0"
    )]
    Serve(ServeArgs),

    /// Look up one entity's online features from the shell.
    #[command(
        after_help = "Examples:\n  freshet get -p rides --service driver_activity --entity driver_id=1001\n  freshet get --features driver_trips:trips_1h --entity driver_id=1001 --json"
    )]
    Get(GetArgs),

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
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "to",
        conflicts_with = "to"
    )]
    pub(crate) out: Option<std::path::PathBuf>,
    /// A Kafka topic instead of a file: kafka://host:port/topic. Records are JSON, keyed by the
    /// scenario's entity key, timestamped with the event time.
    #[arg(long, value_name = "URL")]
    pub(crate) to: Option<String>,
    /// With --to: stream live at this many events per second (event times follow the clock), until
    /// --events are sent or Ctrl-C.
    #[arg(long, requires = "to")]
    pub(crate) rate: Option<f64>,
    /// With --rate: simulated seconds per wall-clock second.
    #[arg(long, default_value_t = 1.0, requires = "rate")]
    pub(crate) speedup: f64,
}

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// The batch source to ingest; all batch sources when omitted.
    #[arg(long)]
    pub(crate) source: Option<String>,
    /// Records per atomic commit.
    #[arg(long, default_value_t = freshet_offline::ingest::DEFAULT_CHUNK_RECORDS, value_name = "N")]
    pub(crate) chunk_records: u64,
}

#[derive(Debug, Args)]
pub(crate) struct TrainingSetArgs {
    /// The feature service whose features to compute.
    #[arg(long)]
    pub(crate) service: String,
    /// Spine file (Parquet or CSV) with the join keys and a timestamp column.
    #[arg(long, value_name = "FILE", conflicts_with = "at")]
    pub(crate) spine: Option<PathBuf>,
    /// Instead of a spine: every entity's values as of this instant (RFC 3339, with a zone).
    #[arg(long, value_name = "TIMESTAMP")]
    pub(crate) at: Option<String>,
    /// The spine's timestamp column (default: event_timestamp, event_time or timestamp).
    #[arg(long, value_name = "COLUMN")]
    pub(crate) timestamp_column: Option<String>,
    /// Use everything in the log, even what arrived after each row's time (leaks late data).
    #[arg(long)]
    pub(crate) hindsight: bool,
    /// Name feature columns `feature` instead of `view__feature`.
    #[arg(long)]
    pub(crate) bare_names: bool,
    /// Threads to read, answer and write on (default: one per core this process may use).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) threads: Option<u16>,
    /// Output Parquet file.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Stop by itself after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub(crate) duration: Option<f64>,
    /// Port of the feature server.
    #[arg(long, default_value_t = 6566)]
    pub(crate) port: u16,
    /// Write the project here and keep it (default: a temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
    /// Drivers simulated.
    #[arg(long, default_value_t = 1_000)]
    pub(crate) drivers: u64,
    /// Trips per wall-clock second (a simulated hour passes each second).
    #[arg(long, default_value_t = 1_250.0)]
    pub(crate) rate: f64,
    /// Simulated past released at once when the stream starts (at least 15d: a week of features
    /// before the first label, a week of outcome after the last).
    #[arg(long, default_value = "21d")]
    pub(crate) history: String,
}

#[derive(Debug, Args)]
pub(crate) struct TrainArgs {
    /// The model to train (a name under `models:`).
    #[arg(long)]
    pub(crate) model: String,
    /// Share of the labelled rows, the latest, held out to validate.
    #[arg(long, default_value_t = 0.2, value_name = "SHARE")]
    pub(crate) validation_fraction: f64,
    /// Make the new version the production version.
    #[arg(long)]
    pub(crate) promote: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ModelArgs {
    #[command(subcommand)]
    pub(crate) command: ModelCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModelCommand {
    /// List versions with their validation metrics (every model when none is named).
    List {
        /// The model.
        model: Option<String>,
    },
    /// Make a version the production version.
    Promote {
        /// The model.
        model: String,
        /// The version number.
        #[arg(value_name = "VERSION")]
        number: u32,
    },
    /// Return production to the version it had before the last promotion.
    Rollback {
        /// The model.
        model: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct PredictArgs {
    /// The model.
    #[arg(long)]
    pub(crate) model: String,
    /// A join key and its value, `name=value` (repeat for composite keys).
    #[arg(long, value_name = "NAME=VALUE", conflicts_with = "spine")]
    pub(crate) entity: Vec<String>,
    /// A request-time value overriding the store's, `view:feature=value` (repeatable).
    #[arg(long, value_name = "FEATURE=VALUE", requires = "entity")]
    pub(crate) set: Vec<String>,
    /// With --entity: answer as of this instant (RFC 3339) instead of now.
    #[arg(long, value_name = "TIMESTAMP", requires = "entity")]
    pub(crate) at: Option<String>,
    /// Batch: a spine file (Parquet or CSV) with join keys and a timestamp per row.
    #[arg(long, value_name = "FILE")]
    pub(crate) spine: Option<PathBuf>,
    /// The spine's timestamp column (default: event_timestamp, event_time or timestamp).
    #[arg(long, value_name = "COLUMN", requires = "spine")]
    pub(crate) timestamp_column: Option<String>,
    /// Batch: the output Parquet file.
    #[arg(long, value_name = "FILE", requires = "spine")]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct BackfillArgs {
    /// A feature view to rebuild (repeatable); every view when omitted.
    #[arg(long = "view", value_name = "NAME")]
    pub(crate) views: Vec<String>,
    /// Seconds between checkpoints while running.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS", value_parser = seconds)]
    pub(crate) checkpoint_interval: f64,
}

#[derive(Debug, Args)]
pub(crate) struct CompactArgs {
    /// A source whose log to compact (repeatable); every source with a log when omitted.
    #[arg(long = "source", value_name = "NAME")]
    pub(crate) sources: Vec<String>,
    /// The most events per compacted file; a day with more is rewritten in several sorted files
    /// (memory needed grows with it).
    #[arg(long, default_value_t = freshet_offline::compact::CompactOptions::default().max_rows_per_file, value_name = "N")]
    pub(crate) max_rows_per_file: u64,
}

#[derive(Debug, Args)]
pub(crate) struct VacuumArgs {
    /// A source whose log to vacuum (repeatable); every source with a log when omitted.
    #[arg(long = "source", value_name = "NAME")]
    pub(crate) sources: Vec<String>,
    /// Delete files that stopped being current longer ago than this (`30m`, `12h`, `7d`); the
    /// table's delta.deletedFileRetentionDuration when omitted.
    #[arg(long, value_name = "DURATION")]
    pub(crate) retain: Option<freshet_project::duration::Duration>,
    /// Allow a retention shorter than the table's: only while no other freshet process writes or
    /// reads this log.
    #[arg(long)]
    pub(crate) force: bool,
    /// List the files that would be deleted, and delete nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Stop by itself after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub(crate) duration: Option<f64>,
    /// Seconds between checkpoints.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS", value_parser = seconds)]
    pub(crate) checkpoint_interval: f64,
    /// The least seconds between two event-log commits of a Kafka or generator stream (each commit
    /// adds a Parquet file and a `_delta_log` entry; a longer interval leaves fewer, larger files).
    /// Serving never waits for the log.
    #[arg(long, default_value_t = freshet_runtime::COMMIT_INTERVAL.as_secs_f64(), value_name = "SECONDS", value_parser = seconds)]
    pub(crate) log_commit_interval: f64,
    /// Port of the feature server [default: `serving.port`, else 6566].
    #[arg(long)]
    pub(crate) port: Option<u16>,
    /// Compact the event logs this often while running (`1h`, say), as `freshet compact` does;
    /// never when omitted. With several workers, give it to one.
    #[arg(long, value_name = "DURATION")]
    pub(crate) compact_every: Option<freshet_project::duration::Duration>,
    /// Vacuum the event logs this often while running (`1d`, say), at each log's retention, as
    /// `freshet vacuum` does; never when omitted.
    #[arg(long, value_name = "DURATION")]
    pub(crate) vacuum_every: Option<freshet_project::duration::Duration>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Port to listen on [default: `serving.port`, else 6566].
    #[arg(long)]
    pub(crate) port: Option<u16>,
    /// Address to listen on, 0.0.0.0 for every interface [default: `serving.host`, else 127.0.0.1].
    #[arg(long)]
    pub(crate) host: Option<String>,
    /// Largest request body in bytes, 413 beyond [default: `serving.max_body_bytes`, else 1 MiB].
    #[arg(long, value_name = "BYTES")]
    pub(crate) max_body_bytes: Option<usize>,
    /// Most entities per lookup, 413 beyond [default: `serving.max_entities`, else 1000].
    #[arg(long, value_name = "N")]
    pub(crate) max_entities: Option<usize>,
    /// Most features per lookup, 413 beyond [default: `serving.max_features`, else 1000].
    #[arg(long, value_name = "N")]
    pub(crate) max_features: Option<usize>,
    /// Also accept `Authorization: Bearer <token>` with the token read from this environment variable
    /// (repeatable); adds to `serving.auth_tokens`. Any token configured turns authentication on.
    #[arg(long, value_name = "VAR")]
    pub(crate) auth_token_env: Vec<String>,
    /// Also allow browser requests from this origin (repeatable); adds to `serving.cors_origins`.
    #[arg(long, value_name = "ORIGIN")]
    pub(crate) cors_origin: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// A feature service to look up.
    #[arg(long, conflicts_with = "features")]
    pub(crate) service: Option<String>,
    /// Features to look up, `view:feature` or `view:*` (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub(crate) features: Vec<String>,
    /// A join key and its value, `name=value` (repeat for composite keys).
    #[arg(long, required = true, value_name = "NAME=VALUE")]
    pub(crate) entity: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// Show this version in full instead of listing all.
    #[arg(value_name = "VERSION")]
    pub(crate) number: Option<u64>,
}

/// A flag's number of seconds: finite, not negative, and within what a `Duration` holds, so the
/// commands convert it without a panic (`Duration::from_secs_f64` panics on anything else).
fn seconds(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds; give one like 1.5"))?;
    // `try_from_secs_f64` refuses negative, infinite and NaN seconds as well as too many.
    if std::time::Duration::try_from_secs_f64(value).is_err() {
        return Err(format!(
            "`{text}` is not a usable number of seconds; give a finite number >= 0, like 1.5"
        ));
    }
    Ok(value)
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
