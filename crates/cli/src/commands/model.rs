//! `freshet model`: the registry from the shell: list versions, promote one to production, roll back.
//! Also the reports `train` prints, since they describe one version.

use crate::cli::{ModelArgs, ModelCommand};
use crate::output::{Failure, print_json, print_text};
use freshet_models::{ModelArtifact, VersionInfo};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

fn instant(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).map_or_else(
        || micros.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// The human report of a trained version.
pub(crate) fn report(a: &ModelArtifact, took: Duration, production: Option<u32>) -> String {
    let t = &a.training;
    let mut out = format!(
        "trained {} ({:?}) on {} labelled rows in {:.1} s\n",
        a.label(),
        a.algorithm,
        t.rows,
        took.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "  split by time    {} training rows before {}, {} validation rows from then on",
        t.train_rows,
        instant(t.cutoff),
        t.validation_rows
    );
    if t.dropped_rows > 0 {
        let _ = writeln!(
            out,
            "  left out        {} rows with no label",
            t.dropped_rows
        );
    }
    let _ = writeln!(out, "  validation       {}", a.metrics);
    if let Some(b) = &a.baseline {
        let _ = writeln!(out, "  linear baseline  {}", b);
    }
    let _ = writeln!(out, "  importance");
    let mut ranked = a.importance.clone();
    ranked.sort_by(|x, y| y.1.total_cmp(&x.1));
    let width = ranked.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, share) in ranked {
        let _ = writeln!(out, "    {name:<width$}  {:5.1} %", share * 100.0);
    }
    let _ = writeln!(out, "  training set     {}", t.fingerprint);
    let _ = match production {
        Some(v) if v == a.version => writeln!(out, "production: v{v}"),
        Some(v) => writeln!(
            out,
            "production stays v{v}; promote this one with `freshet model promote {} {}`",
            a.model, a.version
        ),
        None => writeln!(
            out,
            "no production version yet; promote this one with `freshet model promote {} {}`",
            a.model, a.version
        ),
    };
    out
}

/// Everything about a version but the fitted model itself.
pub(crate) fn summary_json(a: &ModelArtifact) -> serde_json::Value {
    serde_json::json!({
        "model": a.model,
        "version": a.version,
        "created_at": a.created_at,
        "algorithm": a.algorithm,
        "task": a.task,
        "feature_service": a.feature_service,
        "features": a.features.iter().map(freshet_models::FeatureDefinition::reference).collect::<Vec<_>>(),
        "training": a.training,
        "metrics": a.metrics,
        "baseline": a.baseline,
        "importance": a.importance,
    })
}

fn registry_error(e: freshet_models::ModelError) -> Failure {
    match e {
        freshet_models::ModelError::Unknown(message) => Failure::Refused {
            message,
            help: "list versions with `freshet model list NAME`".to_owned(),
        },
        other => Failure::Other(anyhow::Error::new(other)),
    }
}

fn list_text(model: &str, versions: &[VersionInfo]) -> String {
    if versions.is_empty() {
        return format!("{model}: no versions; train one with `freshet train --model {model}`\n");
    }
    let mut out = format!("{model}\n");
    for v in versions {
        let _ = writeln!(
            out,
            "  v{:<4} {}  {:>9} rows  {}{}",
            v.version,
            v.created_at,
            v.rows,
            v.metrics,
            if v.production { "  [production]" } else { "" }
        );
    }
    out
}

pub(crate) fn run(dir: &Path, args: &ModelArgs, json: bool) -> Result<(), Failure> {
    let project = super::load(dir)?;
    let registry = freshet_server::app::model_registry(&project);
    match &args.command {
        ModelCommand::List { model } => {
            let names: Vec<String> = match model {
                Some(m) => vec![super::train::model_spec(&project, m)?.name.clone()],
                None => project.spec.models.iter().map(|m| m.name.clone()).collect(),
            };
            let mut all = serde_json::Map::new();
            let mut text = String::new();
            for name in names {
                let versions = registry.versions(&name).map_err(registry_error)?;
                text.push_str(&list_text(&name, &versions));
                all.insert(name, serde_json::json!(versions));
            }
            if json {
                print_json(&all);
            } else {
                print_text(&text);
            }
        }
        ModelCommand::Promote { model, number } => {
            super::train::model_spec(&project, model)?;
            registry.promote(model, *number).map_err(registry_error)?;
            done(json, model, *number, "promoted");
        }
        ModelCommand::Rollback { model } => {
            super::train::model_spec(&project, model)?;
            let version = registry.rollback(model).map_err(registry_error)?;
            done(json, model, version, "rolled back");
        }
    }
    Ok(())
}

fn done(json: bool, model: &str, version: u32, what: &str) {
    if json {
        print_json(&serde_json::json!({"model": model, "production": version}));
    } else {
        print_text(&format!(
            "{what}: {model} v{version} is production; running servers pick it up when restarted\n"
        ));
    }
}
