//! What every workload needs: its feature view, compiled from YAML exactly as a user's `freshet.yaml`
//! would be, the seeded rides generator's settings, and for the live workloads a stop signal and a
//! marker probe that reads a value as the feature server would.

use freshet_engine::{EntityKey, FeatureValue, RecordReader, Value, ViewDef};
use freshet_online::OnlineStore;
use freshet_sources::generator::GeneratorConfig;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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

/// Resolves once `flag` is set: the shutdown a live workload hands `freshet_runtime::run`.
pub(crate) async fn stop_when(flag: Arc<AtomicBool>) {
    while !flag.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Where a marker probe looks: the view, its record reader, the marker entity and its count feature.
pub(crate) struct Probe<'a> {
    pub(crate) store: &'a OnlineStore,
    pub(crate) def: &'a ViewDef,
    pub(crate) reader: &'a RecordReader,
    pub(crate) marker: i64,
    pub(crate) feature: usize,
}

impl Probe<'_> {
    /// Waits until the marker's count reads at least `count` from the online store, as the server
    /// would read it now; fails once `limit` has passed since `since`.
    pub(crate) async fn await_count(
        &self,
        count: i64,
        since: Instant,
        limit: Duration,
    ) -> anyhow::Result<()> {
        loop {
            let record = self
                .store
                .read(&self.def.name, &[EntityKey::int(self.marker)])
                .await?;
            let t = chrono::Utc::now().timestamp_micros();
            let row = self.reader.read(record[0].as_deref(), t, i64::MAX)?;
            if matches!(&row.values[self.feature], FeatureValue::Scalar(Value::Int64(n)) if *n >= count)
            {
                return Ok(());
            }
            anyhow::ensure!(
                since.elapsed() < limit,
                "marker {count} not servable after {limit:?}"
            );
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }
}
