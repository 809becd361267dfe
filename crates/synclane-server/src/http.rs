//! The HTTP surface of the protocol (docs/PROTOCOL.md): push, pull, cursor, the live stream,
//! health, and admin endpoints. Handlers authenticate, parse, authorize the workspace, then
//! hand over to the store; nothing of a workspace is read before its token is checked.

use crate::auth::{Auth, Caller};
use crate::config::Settings;
use crate::error::ApiError;
use crate::store::{Payload, Store};
use crate::stream::Hub;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{stream, Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use synclane_core::change::{PullRequest, PullResponse, PushBatch, PushResult, PushStatus, SyncScope};
use synclane_core::server_rules::ServerConfig;
use synclane_core::{ErrorCode, SyncError};
use tokio::sync::watch;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::timeout::TimeoutLayer;

#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub auth: Arc<Auth>,
    pub settings: Arc<Settings>,
    pub config: ServerConfig,
    pub hub: Hub,
    /// Flips to true when the server shuts down: streams end so in-flight requests can finish.
    pub shutdown: watch::Receiver<bool>,
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub fn router(app: App) -> Router {
    let cors = if app.settings.cors_origins.iter().any(|o| o == "*") {
        CorsLayer::new().allow_origin(Any)
    } else {
        let origins = app.settings.cors_origins.iter().filter_map(|o| o.parse().ok()).collect::<Vec<_>>();
        CorsLayer::new().allow_origin(AllowOrigin::list(origins))
    }
    .allow_methods(Any)
    .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
    .expose_headers([header::RETRY_AFTER]);
    let max_body = app.settings.max_body_bytes;
    // Every request but the live stream (which is meant to stay open) is answered in bounded
    // time, its body upload included: a slow client gets 408 instead of holding a worker.
    let deadline = Duration::from_millis(app.settings.request_timeout_ms);
    let bounded = Router::new()
        .route("/health", get(health))
        .route("/v1/push", post(push))
        .route("/v1/pull", post(pull))
        .route("/v1/cursor", post(cursor))
        .route("/admin/gc", post(admin_gc))
        .route("/admin/stats", get(admin_stats))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, deadline));
    Router::new()
        .merge(bounded)
        .route("/v1/stream", get(stream_changes))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(cors)
        .with_state(app)
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
}

fn caller(app: &App, headers: &HeaderMap) -> Result<Caller, ApiError> {
    app.auth.authenticate(authorization(headers))
}

/// Reads a JSON body into a protocol type; a malformed one is the client's error, with `code`.
fn parse<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>, code: ErrorCode) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large("the request body is over the server's limit")
        } else {
            ApiError::bad_request(rejection.body_text())
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError(SyncError::new(code, format!("bad request body: {e}"))))
}

async fn health(State(app): State<App>) -> impl IntoResponse {
    let body = |status: &str| serde_json::json!({ "status": status, "database": app.store.kind(), "version": env!("CARGO_PKG_VERSION") });
    match app.store.health().await {
        Ok(()) => (StatusCode::OK, Json(body("ok"))),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(body("unavailable")))
        }
    }
}

async fn push(
    State(app): State<App>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PushResult<Payload>>, ApiError> {
    let started = Instant::now();
    let who = caller(&app, &headers)?;
    let batch: PushBatch<Payload> = parse(body, ErrorCode::InvalidChange)?;
    app.auth.authorize_write(who, &batch.scope.workspace_id)?;
    if batch.ops.len() > app.settings.max_batch_ops {
        return Err(ApiError::too_large(format!(
            "a push may carry at most {} ops; this one has {}",
            app.settings.max_batch_ops,
            batch.ops.len()
        )));
    }
    let workspace = batch.scope.workspace_id.clone();
    let ops = batch.ops.len();
    let result = app.store.push(batch, &app.config, now_ms()).await?;
    let applied = result.results.iter().filter(|r| r.status == PushStatus::Applied).count();
    if applied > 0 && app.store.publishes_locally() {
        app.hub.publish(&workspace, result.server_version);
    }
    tracing::info!(
        workspace = %workspace, ops, applied, version = result.server_version,
        ms = started.elapsed().as_millis() as u64, "push"
    );
    Ok(Json(result))
}

async fn pull(
    State(app): State<App>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PullResponse<Payload>>, ApiError> {
    let started = Instant::now();
    let who = caller(&app, &headers)?;
    let request: PullRequest = parse(body, ErrorCode::InvalidArgument)?;
    app.auth.authorize(who, &request.scope.workspace_id)?;
    let workspace = request.scope.workspace_id.clone();
    let cursor = request.cursor;
    let page = app.store.pull(request, now_ms()).await?;
    tracing::info!(
        workspace = %workspace, cursor, changes = page.changes.len(), next = page.next_cursor,
        more = page.has_more, ms = started.elapsed().as_millis() as u64, "pull"
    );
    Ok(Json(page))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CursorReport {
    scope: SyncScope,
    device_id: String,
    version: u64,
}

async fn cursor(
    State(app): State<App>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let who = caller(&app, &headers)?;
    let report: CursorReport = parse(body, ErrorCode::InvalidArgument)?;
    app.auth.authorize(who, &report.scope.workspace_id)?;
    app.store.update_cursor(report.scope, report.device_id, report.version, now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WorkspaceQuery {
    workspace_id: String,
}

async fn stream_changes(
    State(app): State<App>,
    headers: HeaderMap,
    query: Result<Query<WorkspaceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let who = caller(&app, &headers)?;
    let Query(query) = query.map_err(|_| ApiError::bad_request("workspaceId is required"))?;
    app.auth.authorize(who, &query.workspace_id)?;
    // Listen first, then read the head: a push in between is heard, not lost.
    let notices = BroadcastStream::new(app.hub.subscribe());
    let head = app.store.head(&query.workspace_id).await?;
    tracing::info!(workspace = %query.workspace_id, version = head, "stream opened");
    let event = |name: &str, version: u64| {
        Event::default().event(name).data(serde_json::json!({ "version": version }).to_string())
    };
    let ready = stream::once(std::future::ready(event("ready", head)));
    let workspace = query.workspace_id.clone();
    let changes = notices.filter_map(move |notice| {
        let out = match notice {
            Ok(n) if n.workspace.as_deref().is_none_or(|w| w == workspace) => {
                Some(event("change", n.version))
            }
            Ok(_) => None,
            // Missed notices: the client pulls from its cursor anyway.
            Err(BroadcastStreamRecvError::Lagged(_)) => Some(event("change", 0)),
        };
        std::future::ready(out)
    });
    let mut shutdown = app.shutdown.clone();
    let ended = async move {
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    };
    let events = ready.chain(changes).take_until(ended).map(Ok);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("keep-alive")))
}

async fn admin_gc(State(app): State<App>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    app.auth.authenticate_admin(authorization(&headers))?;
    let purged = app.store.collect_garbage(now_ms()).await?;
    tracing::info!(purged, "garbage collected (admin)");
    Ok(Json(serde_json::json!({ "purged": purged })))
}

async fn admin_stats(
    State(app): State<App>,
    headers: HeaderMap,
    query: Result<Query<WorkspaceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<crate::store::WorkspaceStats>, ApiError> {
    app.auth.authenticate_admin(authorization(&headers))?;
    let Query(query) = query.map_err(|_| ApiError::bad_request("workspaceId is required"))?;
    Ok(Json(app.store.stats(&query.workspace_id).await?))
}
