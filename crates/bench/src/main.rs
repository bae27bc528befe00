//! `freshet-bench`: end-to-end benchmark workloads (PRODUCT.md section 8).
//!
//! Each workload generates its data deterministically (seeded), runs on one thread unless it says
//! otherwise, and prints the machine, the exact command and the figures, ready for docs/benchmarks.md.
//! Benchmarks measure; they never assert a time, so a slow machine makes a slow report, not a failure.

#![forbid(unsafe_code)]

mod b1;
mod b2;
mod b2k;
mod b3;
mod b5;
mod cdc;
mod ceiling;
mod http_load;
mod log_commits;
mod machine;
mod pacer;
mod raw_redis;
mod recovery;
mod workload;

use clap::{Parser, Subcommand};

/// The same allocator and settings as the `freshet` binary, so figures reflect what users run.
#[global_allocator]
static ALLOCATOR: freshet_alloc::MiMalloc = freshet_alloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "freshet-bench",
    about = "End-to-end benchmark workloads for freshet"
)]
struct Cli {
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Debug, Subcommand)]
enum Workload {
    /// B1, B1b and B4: HTTP lookups (open-loop load) and materialization on the embedded store.
    B1(b1::Args),
    /// B2: streaming count/sum/mean/max over 1h/24h/7d sliding windows, in-process source.
    B2(b2::Args),
    /// B2k: B2 through Kafka with JSON decode, the whole `freshet run` path; or its latency, or
    /// its recovery from SIGKILL.
    B2k(b2k::Args),
    /// Event-log ingest, B3 and B3w: the offline path end to end on W1 (10M events, 1M spine rows).
    B3(b3::Args),
    /// CDC: a `postgres_cdc` source's bulk throughput and commit-to-servable latency, against a
    /// PostgreSQL cluster of its own.
    Cdc(cdc::Args),
    /// B5: `/predict` over HTTP with a 100-tree model, and training on 1M rows x 50 features.
    B5(b5::Args),
    /// Event-log commits: the cost of one append after thousands before it (a long `freshet run`).
    LogCommits(log_commits::Args),
    /// One open-loop step of B1 lookups against a running server (what `b1 --client-cpus` runs
    /// in a process of its own).
    Load(http_load::LoadArgs),
}

fn main() -> anyhow::Result<()> {
    freshet_alloc::tune_process();
    let cli = Cli::parse();
    // What the in-process runtime logs (checkpoints, rebalances), on request: `FRESHET_LOG=debug`.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("FRESHET_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    if let Workload::Load(args) = &cli.workload {
        // A helper of another run: its one output line is the step.
        return http_load::run_load(args);
    }
    let command: Vec<String> = std::env::args().collect();
    #[allow(clippy::print_stdout)]
    {
        println!("{}", machine::describe());
        println!("command: {}", command.join(" "));
        println!(
            "date:    {}",
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
        );
    }
    match cli.workload {
        Workload::B1(args) => b1::run(&args),
        Workload::B2(args) => b2::run(&args),
        Workload::B2k(args) => b2k::run(&args),
        Workload::B3(args) => b3::run(&args),
        Workload::Cdc(args) => cdc::run(&args),
        Workload::B5(args) => b5::run(&args),
        Workload::LogCommits(args) => log_commits::run(&args),
        Workload::Load(args) => http_load::run_load(&args),
    }
}
