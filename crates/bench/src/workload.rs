//! What every workload needs: its feature view, compiled from YAML exactly as a user's `freshet.yaml`
//! would be, and the seeded rides generator's settings.

use freshet_engine::ViewDef;
use freshet_sources::generator::GeneratorConfig;

/// The single feature view of a workload's project, compiled by the project model's validation.
pub(crate) fn compile_view(name: &str, project: &str) -> anyhow::Result<ViewDef> {
    let file = freshet_project::SourceFile::new(format!("{name}.yaml"), project);
    let env = std::collections::HashMap::<String, String>::new();
    let (_, mut views) =
        freshet_project::parse_project(file, &env).map_err(|d| anyhow::anyhow!("{d}"))?;
    views
        .pop()
        .map(|v| v.def)
        .ok_or_else(|| anyhow::anyhow!("the {name} project has no feature view"))
}

/// Generator settings for `events` rides over `entities` drivers and `days` days.
pub(crate) fn rides(entities: u64, events: u64, days: f64, seed: u64) -> GeneratorConfig {
    GeneratorConfig {
        entities,
        events: Some(events),
        days,
        seed,
        ..GeneratorConfig::default()
    }
}
