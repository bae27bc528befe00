//! What HTTP alone costs on this host: the B1 load against a server that answers every lookup with
//! a canned copy of a real B1 response and looks nothing up.
//!
//! B1r compares freshet over Redis with a raw Redis client. Much of the distance between the two is
//! not freshet's work but HTTP itself: the load generator building and parsing requests, a loopback
//! TCP round trip per request with the wake-ups on both sides, and the server's HTTP parsing and
//! writing, all on the same two cores as Redis. This server keeps exactly that part, in the stack
//! freshet's server runs on (axum over hyper, `TCP_NODELAY`, the same runtime and threads), and
//! drops the rest: no JSON parsing of the request, no store, no feature folds, no JSON writing. So
//! the rate it answers bounds what any lookup server on that stack could answer here under this
//! load generator, and freshet's rate against it says how much of the gap is freshet's own work.

use axum::Router;
use axum::routing::post;
use bytes::Bytes;
use std::net::SocketAddr;

/// Starts, in `runtime`, a server answering `POST /get-online-features` with `response` (a JSON
/// body) whatever the request, after reading the request's body as any server must.
pub(crate) fn serve_canned(
    runtime: &tokio::runtime::Runtime,
    response: Bytes,
) -> anyhow::Result<SocketAddr> {
    let router = Router::new().route(
        "/get-online-features",
        post(move |request: Bytes| {
            let response = response.clone();
            async move {
                drop(request);
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    response,
                )
            }
        }),
    );
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let address = listener.local_addr()?;
    runtime.spawn(async move {
        use axum::serve::ListenerExt;
        // As `freshet_server::serve` does, so the two differ only in what they answer with.
        let listener = listener.tap_io(|connection| {
            let _ = connection.set_nodelay(true);
        });
        axum::serve(listener, router).await
    });
    Ok(address)
}
