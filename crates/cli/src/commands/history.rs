//! `freshet history`: the registry's applied versions.

use crate::output::{Failure, print_json, print_text};
use anyhow::Context;
use freshet_project::registry::{Registry, format_time};
use std::path::Path;

pub(crate) fn run(dir: &Path, version: Option<u64>, json: bool) -> Result<(), Failure> {
    let registry = Registry::for_project(dir);
    let history = registry
        .history()
        .with_context(|| format!("reading the registry in {}", registry.dir().display()))?;
    if let Some(wanted) = version {
        let Some(v) = history.iter().find(|v| v.version == wanted) else {
            let newest = history.last().map_or(0, |v| v.version);
            return Err(Failure::Refused {
                message: format!("the registry has no version {wanted}"),
                help: if newest == 0 {
                    "nothing has been applied yet; run `freshet apply`".to_owned()
                } else {
                    format!("versions run from 1 to {newest}")
                },
            });
        };
        if json {
            print_json(v);
        } else {
            let mut text = format!(
                "version {} applied {}{}\nfingerprint {}\n\n",
                v.version,
                format_time(&v.applied_at),
                if v.forced { " (forced)" } else { "" },
                v.fingerprint
            );
            for line in &v.summary {
                text.push_str(&format!("  {line}\n"));
            }
            text.push_str("\nuse --json to see the full project spec of this version\n");
            print_text(&text);
        }
        return Ok(());
    }
    if json {
        let rows: Vec<_> = history
            .iter()
            .map(|v| {
                serde_json::json!({
                    "version": v.version,
                    "applied_at": v.applied_at,
                    "forced": v.forced,
                    "fingerprint": v.fingerprint,
                    "summary": v.summary,
                })
            })
            .collect();
        print_json(&rows);
        return Ok(());
    }
    if history.is_empty() {
        print_text("nothing applied yet; run `freshet plan` then `freshet apply`\n");
        return Ok(());
    }
    let mut text = String::new();
    for v in &history {
        let forced = if v.forced { "  (forced)" } else { "" };
        text.push_str(&format!(
            "v{:<4} {}  {}  {}{forced}\n",
            v.version,
            format_time(&v.applied_at),
            &v.fingerprint[..12],
            super::validate::plural(v.summary.len(), "change", "changes")
        ));
    }
    print_text(&text);
    Ok(())
}
