//! What every workload needs: its feature view, compiled from YAML exactly as a user's `freshet.yaml`
//! would be, the seeded rides generator's settings, and for the live workloads a stop signal and a
//! marker probe that reads a value from the online store as the feature server would, or through
//! the feature server itself.

use crate::http_load::{Sender, open_connection, post_json};
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

/// A marker probe that asks the feature server: `POST /get-online-features` for the marker's count
/// feature, over one kept-alive loopback connection, as a client of `freshet run` would.
pub(crate) struct HttpProbe {
    address: std::net::SocketAddr,
    sender: Sender,
    body: bytes::Bytes,
    /// Times the connection failed and was opened again (reported, so it cannot hide).
    pub(crate) reconnects: u32,
}

impl HttpProbe {
    /// Connects to the server at `address`, to ask for feature `view:feature` of driver `marker`.
    pub(crate) async fn connect(
        address: std::net::SocketAddr,
        view: &str,
        feature: &str,
        marker: i64,
    ) -> anyhow::Result<HttpProbe> {
        let body = format!(
            r#"{{"features": ["{view}:{feature}"], "entities": {{"driver_id": [{marker}]}}}}"#
        );
        Ok(HttpProbe {
            address,
            sender: open_connection(address).await?,
            body: body.into(),
            reconnects: 0,
        })
    }

    /// The marker's count as the server answers it now (`None`: not found yet).
    async fn count(&mut self) -> anyhow::Result<Option<i64>> {
        use http_body_util::BodyExt;
        let sent = post_json(&mut self.sender, "/get-online-features", self.body.clone()).await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                tracing::warn!("the probe's request failed, reconnecting: {e:?}");
                self.reconnects += 1;
                anyhow::ensure!(
                    self.reconnects <= 10,
                    "the probe's requests keep failing: {e}"
                );
                self.sender = open_connection(self.address).await?;
                return Ok(None);
            }
        };
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        anyhow::ensure!(
            status.is_success(),
            "the server answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        let answer: serde_json::Value = serde_json::from_slice(&bytes)?;
        // Column 0 is the join key; column 1 the one feature asked for.
        Ok(answer["results"][1]["values"][0].as_i64())
    }

    /// Waits until the server answers the marker's count as at least `count`; fails once `limit`
    /// has passed since `since`.
    pub(crate) async fn await_count(
        &mut self,
        count: i64,
        since: Instant,
        limit: Duration,
    ) -> anyhow::Result<()> {
        loop {
            if self.count().await?.is_some_and(|n| n >= count) {
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
