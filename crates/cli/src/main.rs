//! `freshet`: the command-line entry point.
//!
//! This binary is deliberately thin. It parses arguments ([`cli`]), calls into the library crates, and
//! renders results for people or, with `--json`, for programs. Exit codes are part of the interface:
//! 0 on success, 2 when the input (project file, arguments, a requested change) is invalid, 1 for any
//! other failure.

#![forbid(unsafe_code)]

mod cli;
mod commands;
mod output;

use clap::Parser;
use std::process::ExitCode;

/// Engine state is many small per-entity vectors; mimalloc serves them faster than the system allocator
/// (B2 as-of-now reads: p50 1.4 us -> 0.95 us, docs/benchmarks.md). Library crates stay allocator-neutral.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process unless `MIMALLOC_ALLOW_THP` is set (then
/// mimalloc decides, as it documents).
///
/// mimalloc asks the kernel for huge pages on its regions, and on hosts whose THP setting is
/// `madvise` the kernel then compacts memory and zeroes a whole 2 MiB page at the first touch of any
/// byte in it. freshet's hot paths allocate and free large buffers continuously (decoded Parquet
/// pages, store batches, checkpoint buffers), so that zeroing was the single largest cost measured:
/// with huge pages off, B2k went from 177,000-190,000 to 220,000 events per CPU-second, B3 over a
/// compacted log from 1.96-2.05 s to 1.79-1.86 s, and run-to-run variance fell (docs/benchmarks.md,
/// session 16). The engine alone (B2, a million entities in place) is about 4 % slower without them.
fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // Only an old kernel refuses the call, and then freshet runs as it did before.
        let _ = rustix::thread::disable_transparent_huge_pages(true);
    }
}

fn main() -> ExitCode {
    without_huge_pages();
    let cli = cli::Cli::parse();
    // Logs go to stderr; FRESHET_LOG sets the filter (e.g. `FRESHET_LOG=debug`), default `warn` so
    // command output stays clean, `info` for the long-running server.
    let default = if matches!(cli.command, cli::Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FRESHET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match commands::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(cli.json),
    }
}
