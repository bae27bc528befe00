//! freshet's feature server: Feast-compatible online lookups over an online store, with limits,
//! authentication, metrics and an OpenAPI document.
//!
//! - [`catalog`]: the views, features and services a request may name, resolved once.
//! - [`lookup`]: entity keys in, the engine's answers as of now out, in Feast's column-major shape;
//!   [`feast_json`] writes that answer's JSON.
//! - [`push`]: events pushed over HTTP, through the engine into the online store and the event log.
//! - [`predict`]: the project's production models, checked against its features, served per entity.
//! - [`app`]: the HTTP routes and layers (axum), and [`serve`] to run them until a shutdown signal.
//! - [`metrics`], [`openapi`], [`error`]: what the routes report.
//!
//! The server keeps no state of its own: features come from the online store and models from the
//! registry in the offline store, so several servers can share one Redis and one registry.

pub mod app;
pub mod catalog;
pub mod error;
pub mod feast_json;
pub mod lookup;
pub mod metrics;
pub mod openapi;
pub mod predict;
pub mod push;

pub use app::{AppState, Clock, Limits, ServerConfig, model_registry, router};
pub use catalog::Catalog;
pub use error::ApiError;

use std::net::SocketAddr;
use std::sync::Arc;

/// The default port, as `feast serve`'s.
pub const DEFAULT_PORT: u16 = 6566;

/// Serves `state` on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Nagle's algorithm would hold the last segment of an answer larger than one segment (B1b's
    // 100 entities are ~150 KB) until the client acknowledged the ones before; axum leaves it on.
    let listener = listener.tap_io(|connection| {
        if let Err(e) = connection.set_nodelay(true) {
            tracing::debug!("could not set TCP_NODELAY on a connection: {e}");
        }
    });
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
