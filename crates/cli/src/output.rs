//! Output and failures: text for people on stdout/stderr, JSON for programs on stdout.

use freshet_project::Diagnostics;
use serde::Serialize;
use std::io::Write;
use std::process::ExitCode;

/// Why a command failed, which decides the exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The project file has problems (exit 2).
    Invalid(Diagnostics),
    /// Some other input is invalid (exit 2): a message and how to fix it.
    Refused { message: String, help: String },
    /// Anything else (exit 1).
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::Other(e)
    }
}

#[derive(Serialize)]
struct JsonError<'a> {
    ok: bool,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<&'a str>,
}

impl Failure {
    /// Prints the failure in the requested style and returns its exit code.
    pub(crate) fn report(self, json: bool) -> ExitCode {
        match (&self, json) {
            (Failure::Invalid(d), true) => print_json(&serde_json::json!({
                "ok": false,
                "errors": d.to_json(),
            })),
            (Failure::Invalid(d), false) => eprint!("{}", d.render()),
            (Failure::Refused { message, help }, true) => print_json(&JsonError {
                ok: false,
                error: message,
                help: Some(help),
            }),
            (Failure::Refused { message, help }, false) => {
                eprintln!("error: {message}\nhelp: {help}")
            }
            (Failure::Other(e), true) => print_json(&JsonError {
                ok: false,
                error: &format!("{e:#}"),
                help: None,
            }),
            (Failure::Other(e), false) => eprintln!("error: {e:#}"),
        }
        ExitCode::from(match self {
            Failure::Invalid(_) | Failure::Refused { .. } => 2,
            Failure::Other(_) => 1,
        })
    }
}

/// Prints a value as pretty JSON on stdout.
pub(crate) fn print_json<T: Serialize>(value: &T) {
    let text = serde_json::to_string_pretty(value)
        .unwrap_or_else(|e| format!("{{\"ok\":false,\"error\":\"cannot encode output: {e}\"}}"));
    let mut out = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) is not an error worth reporting.
    let _ = writeln!(out, "{text}");
}

/// Prints text on stdout.
pub(crate) fn print_text(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
}

/// A progress bar of `length` steps drawn with `template` (hidden with `--json`).
pub(crate) fn progress_bar(json: bool, length: u64, template: &str) -> indicatif::ProgressBar {
    let bar = if json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(length)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// A spinner drawing `template` (indicatif syntax), hidden under `--json` so machine output stays clean.
pub(crate) fn spinner(json: bool, template: &str) -> indicatif::ProgressBar {
    let bar = if json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new_spinner()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar
}
