//! `freshet plan` and `freshet apply`: compare the project with the registry's newest version.

use crate::output::{Failure, print_json, print_text};
use freshet_project::plan::{Plan, plan as make_plan};
use freshet_project::registry::Registry;
use std::path::Path;

const BREAKING_HELP: &str = "a breaking change alters values already served or trained on; rename the feature, \
or increase the view's `version` to create it anew, or run `freshet apply --force` to change it in place";

fn summary_line(plan: &Plan) -> String {
    let (add, change, remove) = plan.counts();
    let breaking = plan.breaking().count();
    let mut line = format!("{add} to add, {change} to change, {remove} to remove");
    if breaking > 0 {
        line.push_str(&format!("; {breaking} with breaking changes"));
    }
    line
}

/// Loads the project and the newest applied version, and compares them.
fn compute(dir: &Path) -> Result<(freshet_project::Project, Option<u64>, Plan), Failure> {
    let project = super::load(dir)?;
    let latest = super::latest(dir)?;
    let plan = make_plan(latest.as_ref().map(|v| &v.spec), &project.spec);
    Ok((project, latest.map(|v| v.version), plan))
}

pub(crate) fn plan(dir: &Path, json: bool) -> Result<(), Failure> {
    let (project, current, plan) = compute(dir)?;
    if json {
        print_json(&serde_json::json!({
            "ok": true,
            "project": project.spec.project,
            "current_version": current,
            "breaking": plan.breaking().count() > 0,
            "changes": plan.changes,
        }));
        return Ok(());
    }
    let from = current.map_or("empty registry".to_owned(), |v| format!("version {v}"));
    if plan.is_empty() {
        print_text(&format!(
            "project `{}`: no changes from {from}\n",
            project.spec.project
        ));
        return Ok(());
    }
    let mut text = format!(
        "project `{}`: changes from {from}\n\n{plan}\n{}\n",
        project.spec.project,
        summary_line(&plan)
    );
    if plan.breaking().count() > 0 {
        text.push_str(&format!("\nnote: {BREAKING_HELP}\n"));
    }
    print_text(&text);
    Ok(())
}

pub(crate) fn apply(dir: &Path, force: bool, json: bool) -> Result<(), Failure> {
    let (project, current, plan) = compute(dir)?;
    if plan.is_empty() {
        let version = current.unwrap_or(0);
        if json {
            print_json(&serde_json::json!({ "ok": true, "applied": false, "version": version }));
        } else {
            print_text(&format!(
                "no changes; the registry stays at version {version}\n"
            ));
        }
        return Ok(());
    }
    let breaking: Vec<String> = plan
        .breaking()
        .map(|c| format!("{} {}", c.kind, c.name))
        .collect();
    if !breaking.is_empty() && !force {
        return Err(Failure::Refused {
            message: format!(
                "refusing to apply breaking changes to {}",
                breaking.join(", ")
            ),
            help: format!("{BREAKING_HELP}; `freshet plan` shows each change"),
        });
    }
    let registry = Registry::for_project(dir);
    let applied = registry
        .record(
            &project.spec,
            &plan,
            !breaking.is_empty(),
            chrono::Utc::now(),
        )
        .map_err(|e| Failure::Other(anyhow::Error::new(e)))?;
    if json {
        print_json(&serde_json::json!({
            "ok": true,
            "applied": true,
            "version": applied.version,
            "fingerprint": applied.fingerprint,
            "forced": applied.forced,
            "changes": plan.changes,
        }));
    } else {
        let forced = if applied.forced {
            " (breaking changes forced)"
        } else {
            ""
        };
        print_text(&format!(
            "{plan}\n{}\napplied version {} of project `{}`{forced}, fingerprint {}\n",
            summary_line(&plan),
            applied.version,
            project.spec.project,
            &applied.fingerprint[..12]
        ));
    }
    Ok(())
}
