//! Integration tests of the offline store against real Delta tables on disk.

// Test helpers may fail loudly: a panic is how a test reports a broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod appends;
mod backfill;
mod cdc;
mod compact;
mod ingest;
#[path = "../../../engine/tests/it/oracle.rs"]
#[allow(dead_code, unreachable_pub)]
mod oracle;
mod postgres;
mod training;
mod vacuum;

use freshet_engine::Value;
use freshet_offline::SourceLog;
use freshet_offline::compact::{CompactOptions, CompactReport, compact};
use freshet_offline::ingest::{FileReport, IngestOptions, ingest_source};
use freshet_offline::scan::scan_files;
use freshet_project::{ProcessEnv, Project, load_project};
use std::path::{Path, PathBuf};

/// A project of driver trips read from `data/` as CSV, with one view keyed by driver.
pub(crate) const TRIPS: &str = r#"project: trips
entities:
  - {name: driver, join_keys: [driver_id]}
sources:
  - name: trips
    type: file
    path: data/*.csv
    timestamp_field: event_time
    event_id_field: trip_id
    schema: {trip_id: int64, driver_id: int64, event_time: timestamp, fare: float64, status: string}
feature_views:
  - name: driver_trips
    entities: [driver]
    source: trips
    ttl: 7d
    features:
      - {name: trips_24h, aggregation: count, window: 24h}
      - {name: fare_sum_24h, aggregation: sum, column: fare, window: 24h}
      - {name: last_fare, aggregation: last, column: fare}
feature_services:
  - {name: activity, features: ["driver_trips:*"]}
"#;

/// A project directory in a temporary folder.
pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
}

impl Fixture {
    pub(crate) fn new(project: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("freshet.yaml"), project).unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        Fixture { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join("data").join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    pub(crate) fn project(&self) -> Project {
        load_project(self.path(), &ProcessEnv).unwrap()
    }

    pub(crate) fn offline(&self) -> PathBuf {
        self.path().join(".freshet/offline")
    }

    pub(crate) async fn open_log(&self, source: &str) -> SourceLog {
        let project = self.project();
        let spec = project
            .spec
            .sources
            .iter()
            .find(|s| s.name == source)
            .unwrap();
        SourceLog::open(&self.offline(), source, &spec.schema, &spec.timestamp_field)
            .await
            .unwrap()
    }

    /// Compacts every source's log with the default options.
    pub(crate) async fn compact(&self) -> Vec<CompactReport> {
        compact(
            &self.project(),
            &[],
            &CompactOptions::default(),
            &mut |_| {},
        )
        .await
        .unwrap()
    }

    /// Ingests `source` with `options`.
    pub(crate) async fn ingest(&self, source: &str, options: &IngestOptions) -> Vec<FileReport> {
        self.try_ingest(source, options).await.unwrap()
    }

    /// Ingests `source` with `options`, or says why it could not.
    pub(crate) async fn try_ingest(
        &self,
        source: &str,
        options: &IngestOptions,
    ) -> Result<Vec<FileReport>, freshet_offline::ingest::IngestError> {
        let project = self.project();
        let spec = project
            .spec
            .sources
            .iter()
            .find(|s| s.name == source)
            .unwrap();
        let views: Vec<_> = project
            .spec
            .feature_views
            .iter()
            .zip(&project.views)
            .filter(|(v, _)| v.source == source)
            .map(|(_, c)| c.def.clone())
            .collect();
        let mut log = self.open_log(source).await;
        ingest_source(
            &mut log,
            self.path(),
            &self.offline(),
            spec,
            &views,
            options,
            &mut |_| {},
        )
        .await
    }

    /// Every event in the log: (source row, ingest time, position), sorted by position.
    pub(crate) async fn logged(&self, source: &str) -> Vec<(Vec<Value>, i64, u64)> {
        let log = self.open_log(source).await;
        let mut events = Vec::new();
        scan_files(&log.files().unwrap(), log.fields(), |e| {
            events.push((e.row.to_vec(), e.ingest_time, e.position));
        })
        .unwrap();
        events.sort_by_key(|e| e.2);
        events
    }
}
