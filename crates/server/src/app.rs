//! The HTTP application: routes, limits, authentication and metrics around [`crate::lookup`].
//!
//! Every request is checked before any store I/O: the body against the size limit (413), the JSON and
//! every name in it (400), the entity and feature counts (413), the bearer token when auth is on (401,
//! revealing nothing). Errors are `{"code", "message"}` JSON naming the offending field. The server holds
//! no state of its own beyond the catalog: several can serve one Redis.

use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::lookup::{entity_rows, read_views};
use crate::metrics::Metrics;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use freshet_online::OnlineStore;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Instant;

/// Request limits, checked before any store I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Most entities (rows) per lookup.
    pub max_entities: usize,
    /// Most features per lookup.
    pub max_features: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 20,
            max_entities: 1_000,
            max_features: 1_000,
        }
    }
}

/// What "now" is for as-of-now reads: the system clock, or a clock driven by the caller (a replay, or a
/// demo on an accelerated clock, reads as of the simulated time).
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// Wall-clock time.
    #[default]
    System,
    /// Microseconds since the epoch, set by the caller.
    Manual(Arc<std::sync::atomic::AtomicI64>),
}

impl Clock {
    /// Now, in microseconds since the epoch.
    pub fn now(&self) -> i64 {
        match self {
            Clock::System => chrono::Utc::now().timestamp_micros(),
            Clock::Manual(at) => at.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

/// How the server behaves beyond what the project says.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// What "now" is.
    pub clock: Clock,
    /// Request limits.
    pub limits: Limits,
    /// Accepted bearer tokens (resolved secrets); empty: no authentication.
    pub tokens: Vec<String>,
    /// Origins allowed by CORS; empty: CORS off.
    pub cors_origins: Vec<String>,
}

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// What may be asked for.
    pub catalog: Catalog,
    /// Where records live.
    pub store: OnlineStore,
    /// Settings.
    pub config: ServerConfig,
    /// Metrics.
    pub metrics: Metrics,
    /// Push sources and their event logs.
    pub push: crate::push::PushTargets,
    /// The project's models, as last loaded from the registry.
    models: std::sync::RwLock<Arc<crate::predict::Models>>,
    /// SHA-256 of each accepted token, compared in constant time.
    token_digests: Vec<[u8; 32]>,
}

impl AppState {
    /// The shared state of a server for `project`.
    pub fn new(
        project: &freshet_project::Project,
        store: OnlineStore,
        config: ServerConfig,
    ) -> AppState {
        let token_digests = config.tokens.iter().map(|t| digest(t.as_bytes())).collect();
        let catalog = Catalog::new(project);
        let models = crate::predict::Models::load(project, &catalog, &model_registry(project));
        AppState {
            models: std::sync::RwLock::new(Arc::new(models)),
            catalog,
            push: crate::push::PushTargets::new(project),
            store,
            config,
            metrics: Metrics::new(),
            token_digests,
        }
    }
}

impl AppState {
    /// Loads each model's production version again (after a training run or a promotion).
    pub fn reload_models(&self, project: &freshet_project::Project) {
        let models = crate::predict::Models::load(project, &self.catalog, &model_registry(project));
        if let Ok(mut slot) = self.models.write() {
            *slot = Arc::new(models);
        }
    }

    /// The models as last loaded.
    pub fn models(&self) -> Arc<crate::predict::Models> {
        self.models
            .read()
            .map(|m| m.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }
}

/// The model registry of `project`: beside its training sets, in the offline store.
pub fn model_registry(project: &freshet_project::Project) -> freshet_models::Registry {
    freshet_models::Registry::new(freshet_offline::offline_root(project).join("models"))
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// The router with every route and layer.
pub fn router(state: Arc<AppState>) -> Router {
    let mut protected = Router::new()
        .route("/get-online-features", post(get_online_features))
        .route("/push", post(push))
        .route("/predict", post(predict));
    if !state.token_digests.is_empty() {
        // Without tokens the layer would let every request through: left out, no request pays for it.
        protected =
            protected.route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    }
    let mut app = Router::new()
        .merge(protected)
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state.clone());
    if !state.config.cors_origins.is_empty() {
        let origins: Vec<header::HeaderValue> = state
            .config
            .cors_origins
            .iter()
            .filter_map(|o| o.parse().ok())
            .collect();
        app = app.layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
                .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION]),
        );
    }
    app
}

/// The routes requests are counted by; any other path counts as `other`.
const ROUTES: [&str; 6] = [
    "/get-online-features",
    "/predict",
    "/push",
    "/health",
    "/metrics",
    "/openapi.json",
];

/// Counts every request by route and status, with its latency.
async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = request.uri().path();
    let route = ROUTES.into_iter().find(|r| *r == path).unwrap_or("other");
    let response = next.run(request).await;
    let status = response.status();
    state
        .metrics
        .observe(route, status.as_u16(), started.elapsed().as_secs_f64());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        state.metrics.store_error();
    }
    response
}

/// Refuses requests without an accepted bearer token; installed only when tokens are configured. The
/// answer reveals nothing about which part was wrong; tokens are compared as SHA-256 digests in
/// constant time.
async fn authenticate(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let offered = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| digest(t.trim().as_bytes()));
    let accepted = offered.is_some_and(|offered| {
        use subtle::ConstantTimeEq;
        state
            .token_digests
            .iter()
            .fold(subtle::Choice::from(0), |any, d| any | d.ct_eq(&offered))
            .into()
    });
    if accepted {
        return next.run(request).await;
    }
    let error = ApiError {
        status: StatusCode::UNAUTHORIZED,
        code: "unauthorized",
        message: "a valid bearer token is required".to_owned(),
    };
    let mut response = error.into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

/// Reads a JSON body within the size limit, with a 413 or 400 naming the problem.
async fn json_body<T: for<'de> Deserialize<'de>>(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    let limit = state.config.limits.max_body_bytes;
    let too_large = || {
        ApiError::too_large(
            "body_too_large",
            format!(
                "the request body is over the limit of {limit} bytes; send fewer entities per request"
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!(
                "the body is not a valid request: {e} (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}

async fn predict(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: crate::predict::PredictRequest = json_body(&state, &headers, body).await?;
    let model = state.models().get(&request.model)?;
    let rows = entity_rows(&request.entities)?;
    let limit = state.config.limits.max_entities;
    if rows > limit {
        return Err(ApiError::too_large(
            "too_many_entities",
            format!("{rows} entities requested; the limit is {limit}"),
        ));
    }
    let answer = crate::predict::predict(
        &state.catalog,
        &state.store,
        &model,
        &request,
        state.config.clock.now(),
    )
    .await?;
    state
        .metrics
        .predicted(&answer.model, answer.predictions.len());
    Ok(axum::Json(answer).into_response())
}

/// Feast's `POST /get-online-features` request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnlineFeaturesRequest {
    #[serde(default)]
    features: Option<Vec<String>>,
    #[serde(default)]
    feature_service: Option<String>,
    entities: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    full_feature_names: bool,
}

async fn get_online_features(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: OnlineFeaturesRequest = json_body(&state, &headers, body).await?;
    let refs = match (&request.features, &request.feature_service) {
        (Some(features), None) => state.catalog.features(features, "features")?,
        (None, Some(service)) => state.catalog.service(service)?,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "give exactly one of `features` (a list of \"view:feature\") or `feature_service`",
            ));
        }
    };
    let limits = state.config.limits;
    if refs.len() > limits.max_features {
        return Err(ApiError::too_large(
            "too_many_features",
            format!(
                "{} features requested; the limit is {}",
                refs.len(),
                limits.max_features
            ),
        ));
    }
    let rows = entity_rows(&request.entities)?;
    if rows > limits.max_entities {
        return Err(ApiError::too_large(
            "too_many_entities",
            format!(
                "{rows} entities requested; the limit is {}",
                limits.max_entities
            ),
        ));
    }
    let now = state.config.clock.now();
    let read = read_views(&state.catalog, &state.store, &refs, &request.entities, now).await?;
    for (view, newest) in read.newest(&state.catalog) {
        state
            .metrics
            .freshness(view, (now - newest) as f64 / 1_000_000.0);
    }
    let json = crate::feast_json::lookup_json(
        &state.catalog,
        &refs,
        &request.entities,
        &read,
        request.full_feature_names,
    );
    // The header `axum::Json` sets.
    let json_type = header::HeaderValue::from_static("application/json");
    Ok(([(header::CONTENT_TYPE, json_type)], json).into_response())
}

async fn push(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: crate::push::PushRequest = json_body(&state, &headers, body).await?;
    let accepted = crate::push::push(&state, &state.push, request).await?;
    Ok(axum::Json(serde_json::json!({"status": "ok", "events": accepted})).into_response())
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    match state.store.health().await {
        Ok(()) => axum::Json(serde_json::json!({"status": "ok", "store": state.store.kind()}))
            .into_response(),
        Err(e) => ApiError::unavailable(e.to_string()).into_response(),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn openapi() -> Response {
    axum::Json(crate::openapi::document()).into_response()
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: "not_found",
        message: "no such route; see GET /openapi.json".to_owned(),
    }
}
