//! `freshet validate`: check the project and summarise what it declares.

use crate::output::{Failure, print_json, print_text};
use serde::Serialize;
use std::path::Path;

#[derive(Serialize)]
struct Summary<'a> {
    ok: bool,
    project: &'a str,
    entities: usize,
    sources: usize,
    feature_views: usize,
    features: usize,
    feature_services: usize,
    models: usize,
}

pub(crate) fn run(dir: &Path, json: bool) -> Result<(), Failure> {
    let project = super::load(dir)?;
    let spec = &project.spec;
    let summary = Summary {
        ok: true,
        project: &spec.project,
        entities: spec.entities.len(),
        sources: spec.sources.len(),
        feature_views: spec.feature_views.len(),
        features: spec.feature_views.iter().map(|v| v.features.len()).sum(),
        feature_services: spec.feature_services.len(),
        models: spec.models.len(),
    };
    if json {
        print_json(&summary);
    } else {
        let s = &summary;
        print_text(&format!(
            "project `{}` is valid: {}, {}, {} ({}), {}, {}\n",
            s.project,
            plural(s.entities, "entity", "entities"),
            plural(s.sources, "source", "sources"),
            plural(s.feature_views, "feature view", "feature views"),
            plural(s.features, "feature", "features"),
            plural(s.feature_services, "feature service", "feature services"),
            plural(s.models, "model", "models"),
        ));
    }
    Ok(())
}

pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
