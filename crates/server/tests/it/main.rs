//! The feature server over real HTTP, against the embedded store and a real `redis-server`.

// Test helpers may fail loudly: a panic is how a test reports a broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod feast;
mod predict;
mod push;

use freshet_engine::{Timestamp, Value, ViewState};
use freshet_online::OnlineStore;
use freshet_project::{ProcessEnv, Project, load_project};
use freshet_server::{AppState, Clock, ServerConfig};
use std::sync::Arc;
use std::sync::atomic::AtomicI64;

pub(crate) const PROJECT: &str = freshet_testkit::projects::RIDES;

/// The embedded online store, in the project's directory.
pub(crate) const EMBEDDED: &str = "online_store: {type: embedded, path: online}\n";

pub(crate) const MINUTE: i64 = 60_000_000;
/// 2026-01-01T00:00:00Z.
pub(crate) const T0: i64 = 1_767_225_600_000_000;

/// A running server over a store holding a few trips, with a clock the test moves.
pub(crate) struct Running {
    pub(crate) url: String,
    pub(crate) clock: Arc<AtomicI64>,
    pub(crate) client: reqwest::Client,
    pub(crate) views: Vec<ViewState>,
    /// The server's state, to reload models as `freshet serve` does.
    pub(crate) app: Arc<AppState>,
    dir: tempfile::TempDir,
}

impl Running {
    pub(crate) fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub(crate) fn project(&self) -> Project {
        load_project(self.dir(), &ProcessEnv).unwrap()
    }

    pub(crate) fn set_now(&self, micros: i64) {
        self.clock
            .store(micros, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) async fn post(&self, route: &str, body: &str) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(format!("{}{route}", self.url))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }
}

pub(crate) fn project(dir: &std::path::Path, store_yaml: &str) -> Project {
    std::fs::write(dir.join("freshet.yaml"), format!("{PROJECT}{store_yaml}")).unwrap();
    load_project(dir, &ProcessEnv).unwrap()
}

fn trip(driver: i64, city: &str, zone: i64, minute: i64, fare: f64, status: &str) -> Vec<Value> {
    vec![
        Value::Int64(driver),
        Value::from(city),
        Value::Int64(zone),
        Value::Timestamp(Timestamp(T0 + minute * MINUTE)),
        Value::Float64(fare),
        Value::from(status),
    ]
}

/// Trips of drivers 1 and 2 (zones paris/1 and paris/2), written to the store as a backfill would.
pub(crate) async fn seed(project: &Project, store: &OnlineStore) -> Vec<ViewState> {
    let trips = [
        trip(1, "paris", 1, 0, 10.0, "completed"),
        trip(1, "paris", 1, 5, 12.5, "cancelled"),
        trip(1, "paris", 1, 30, 7.25, "completed"),
        trip(2, "paris", 2, 20, 30.0, "completed"),
    ];
    let mut views = Vec::new();
    for compiled in &project.views {
        let mut state = ViewState::new(compiled.def.clone());
        for (i, row) in trips.iter().enumerate() {
            state.ingest(row, Timestamp(0), i as u64 + 1).unwrap();
        }
        let records: Vec<_> = state.records().collect();
        store.write(&compiled.def.name, &records).await.unwrap();
        views.push(state);
    }
    views
}

/// Starts a server on a free port over `store_yaml`'s store, seeded, with `config`.
pub(crate) async fn start(store_yaml: &str, mut config: ServerConfig) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let project = project(dir.path(), store_yaml);
    let store = OnlineStore::open(&project).await.unwrap();
    let views = seed(&project, &store).await;
    let clock = Arc::new(AtomicI64::new(T0 + 31 * MINUTE));
    config.clock = Clock::Manual(clock.clone());
    let state = Arc::new(AppState::new(&project, store, config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(freshet_server::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    Running {
        url,
        clock,
        client: reqwest::Client::new(),
        views,
        app: state,
        dir,
    }
}
