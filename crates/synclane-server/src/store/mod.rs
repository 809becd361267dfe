//! Where the server keeps its state: SQLite (a file, the default) or PostgreSQL (a URL). Both
//! decide with the core's rules (`synclane_core::server_rules`) and differ only in how they
//! load and write rows; nothing that matters lives in the process's memory.

mod postgres;
mod sqlite;
mod stats;
mod view;

use crate::stream::Hub;
use synclane_core::change::{PullRequest, PullResponse, PushBatch, PushResult, SyncScope};
use synclane_core::server_rules::{check_scope, validate_push, ServerConfig};
use synclane_core::SyncResult;

pub use stats::WorkspaceStats;
pub use view::Payload;

#[derive(Clone)]
pub enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PostgresStore),
}

impl Store {
    /// Opens `db`: a `postgres://` or `postgresql://` URL, or else a SQLite file path.
    pub async fn open(db: &str, config: ServerConfig) -> SyncResult<Store> {
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            Ok(Store::Postgres(postgres::PostgresStore::open(db, config).await?))
        } else {
            Ok(Store::Sqlite(sqlite::SqliteStore::open(db, config)?))
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Validates the batch whole (nothing is stored when an op is bad), then applies it in one
    /// transaction.
    pub async fn push(
        &self,
        batch: PushBatch<Payload>,
        config: &ServerConfig,
        now_ms: u64,
    ) -> SyncResult<PushResult<Payload>> {
        validate_push(&batch, config, now_ms)?;
        match self {
            Store::Sqlite(s) => s.push(batch, now_ms).await,
            Store::Postgres(s) => s.push(batch, now_ms).await,
        }
    }

    pub async fn pull(&self, request: PullRequest, now_ms: u64) -> SyncResult<PullResponse<Payload>> {
        check_scope(&request.scope)?;
        match self {
            Store::Sqlite(s) => s.pull(request, now_ms).await,
            Store::Postgres(s) => s.pull(request, now_ms).await,
        }
    }

    pub async fn update_cursor(
        &self,
        scope: SyncScope,
        device_id: String,
        version: u64,
        now_ms: u64,
    ) -> SyncResult<()> {
        match self {
            Store::Sqlite(s) => s.update_cursor(scope, device_id, version, now_ms).await,
            Store::Postgres(s) => s.update_cursor(scope, device_id, version, now_ms).await,
        }
    }

    pub async fn collect_garbage(&self, now_ms: u64) -> SyncResult<usize> {
        match self {
            Store::Sqlite(s) => s.collect_garbage(now_ms).await,
            Store::Postgres(s) => s.collect_garbage(now_ms).await,
        }
    }

    pub async fn head(&self, workspace: &str) -> SyncResult<u64> {
        match self {
            Store::Sqlite(s) => s.head(workspace.to_owned()).await,
            Store::Postgres(s) => s.head(workspace.to_owned()).await,
        }
    }

    pub async fn stats(&self, workspace: &str) -> SyncResult<WorkspaceStats> {
        match self {
            Store::Sqlite(s) => s.stats(workspace.to_owned()).await,
            Store::Postgres(s) => s.stats(workspace.to_owned()).await,
        }
    }

    pub async fn health(&self) -> SyncResult<()> {
        match self {
            Store::Sqlite(s) => s.health().await,
            Store::Postgres(s) => s.health().await,
        }
    }

    /// Where change notifications come from: this process's own pushes on SQLite, every
    /// instance's (through `LISTEN`) on PostgreSQL.
    pub fn start_notifications(&self, hub: &Hub) {
        if let Store::Postgres(s) = self {
            s.listen(hub.clone());
        }
    }

    /// Whether the handler must publish its own pushes (PostgreSQL delivers them by `NOTIFY`).
    pub fn publishes_locally(&self) -> bool {
        matches!(self, Store::Sqlite(_))
    }
}
