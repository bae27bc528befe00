//! What `serve`, `run` and `get` share: the server settings of the project file, opening the online
//! store and the listening socket, each with the failure a user can act on.

use crate::output::Failure;
use freshet_online::OnlineStore;
use freshet_project::Project;
use freshet_project::spec::ServingSpec;
use freshet_server::{Limits, ServerConfig};

/// The server settings of the project file's `serving:` section.
pub(crate) fn server_config(serving: &ServingSpec) -> ServerConfig {
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    ServerConfig {
        limits: Limits {
            max_body_bytes: size(serving.max_body_bytes),
            max_entities: size(serving.max_entities),
            max_features: size(serving.max_features),
        },
        tokens: serving
            .auth_tokens
            .iter()
            .map(|t| t.resolved().trim().to_owned())
            .collect(),
        cors_origins: serving.cors_origins.clone(),
        ..ServerConfig::default()
    }
}

/// Opens the project's online store.
pub(crate) async fn open_store(project: &Project) -> Result<OnlineStore, Failure> {
    OnlineStore::open(project)
        .await
        .map_err(|e| Failure::Refused {
            message: e.to_string(),
            help: "start the online store, or check `online_store` in freshet.yaml".to_owned(),
        })
}

/// Listens on `host:port`; returns the socket and the address it is bound to.
pub(crate) async fn listen(
    host: &str,
    port: u16,
) -> Result<(tokio::net::TcpListener, String), Failure> {
    let address = format!("{host}:{port}");
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|e| Failure::Refused {
            message: format!("cannot listen on {address}: {e}"),
            help: "choose another --port, or stop what uses this one".to_owned(),
        })?;
    let bound = listener.local_addr().map_or(address, |a| a.to_string());
    Ok((listener, bound))
}

/// Publishes a run's progress since `before` to the server's metrics (counters take the increase).
pub(crate) fn publish_status(
    metrics: &freshet_server::metrics::Metrics,
    before: &freshet_runtime::Status,
    now: &freshet_runtime::Status,
) {
    metrics.stream(
        now.events - before.events,
        now.checkpoints - before.checkpoints,
        now.dead_letters - before.dead_letters,
        &now.positions,
        &now.log_pending,
        now.simulated_now,
    );
}
