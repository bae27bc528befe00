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

/// mimalloc, tuned by `freshet_alloc::tune_process` (its crate doc says why).
#[global_allocator]
static ALLOCATOR: freshet_alloc::MiMalloc = freshet_alloc::MiMalloc;

fn main() -> ExitCode {
    freshet_alloc::tune_process();
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
