//! The store on SQLite: one file, WAL journal, one connection used from blocking threads.
//! SQLite has one writer at a time anyway; a push takes the write lock for its whole batch
//! (`BEGIN IMMEDIATE`), so versions are handed out in commit order.

use super::stats::WorkspaceStats;
use super::view::{to_i64, to_u64, Payload, PushView, RecordRow};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::sync::{Arc, Mutex};
use synclane_core::change::{PullRequest, PullResponse, PushBatch, PushResult, SyncScope};
use synclane_core::server_rules::{
    apply_push, assemble_page, check_cursor_update, check_pull, is_purgeable, purge_horizon, ServerConfig,
};
use synclane_core::{ErrorCode, SyncError, SyncResult};

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    config: ServerConfig,
    /// The database's epoch (`sl_meta`), read once: it never changes while the file lives.
    epoch: Arc<str>,
}

fn db_error(e: rusqlite::Error) -> SyncError {
    SyncError::new(ErrorCode::ServerError, format!("database: {e}"))
}

const RECORD_COLUMNS: &str =
    "table_name, pk, op, payload, clock, hlc, device_id, op_id, server_version, stored_at, purged";

fn record_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RecordRow> {
    Ok(RecordRow {
        table_name: row.get(0)?,
        pk: row.get(1)?,
        op: row.get(2)?,
        payload: row.get(3)?,
        clock: row.get(4)?,
        hlc: row.get(5)?,
        device_id: row.get(6)?,
        op_id: row.get(7)?,
        server_version: row.get(8)?,
        stored_at: row.get(9)?,
        purged: row.get(10)?,
    })
}

/// The workspace's (version, floor), or (0, 0) for a workspace never written.
fn head(tx: &Connection, workspace: &str) -> rusqlite::Result<(u64, u64)> {
    Ok(tx
        .query_row("SELECT version, floor FROM sl_workspaces WHERE id = ?1", [workspace], |r| {
            Ok((to_u64(r.get(0)?), to_u64(r.get(1)?)))
        })
        .optional()?
        .unwrap_or((0, 0)))
}

impl SqliteStore {
    pub fn open(path: &str, config: ServerConfig) -> SyncResult<SqliteStore> {
        let conn = Connection::open(path).map_err(db_error)?;
        // FULL: an acknowledged push survives a power cut, not only a crash of the process.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
        )
        .map_err(db_error)?;
        conn.execute_batch(include_str!("schema.sql")).map_err(db_error)?;
        conn.execute(
            "INSERT OR IGNORE INTO sl_meta (key, value) VALUES ('epoch', lower(hex(randomblob(8))))",
            [],
        )
        .map_err(db_error)?;
        let epoch: String = conn
            .query_row("SELECT value FROM sl_meta WHERE key = 'epoch'", [], |r| r.get(0))
            .map_err(db_error)?;
        Ok(SqliteStore { conn: Arc::new(Mutex::new(conn)), config, epoch: epoch.into() })
    }

    /// Runs `work` on the connection in a blocking thread.
    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection, &ServerConfig) -> SyncResult<T> + Send + 'static,
    ) -> SyncResult<T> {
        let conn = self.conn.clone();
        let config = self.config;
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&mut guard, &config)
        })
        .await
        .map_err(|e| SyncError::new(ErrorCode::ServerError, format!("database task failed: {e}")))?
    }

    pub async fn push(&self, batch: PushBatch<Payload>, now_ms: u64) -> SyncResult<PushResult<Payload>> {
        self.with(move |conn, _| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
            let workspace = batch.scope.workspace_id.clone();
            let (version, floor) = head(&tx, &workspace).map_err(db_error)?;
            let mut view = PushView::new(version, floor);
            {
                let mut record = tx
                    .prepare_cached(&format!(
                        "SELECT {RECORD_COLUMNS} FROM sl_records WHERE workspace = ?1 AND table_name = ?2 AND pk = ?3"
                    ))
                    .map_err(db_error)?;
                let mut op = tx
                    .prepare_cached("SELECT applied_at FROM sl_ops WHERE workspace = ?1 AND op_id = ?2")
                    .map_err(db_error)?;
                for pending in &batch.ops {
                    let row = record
                        .query_row(params![workspace, pending.table_name, pending.pk], record_row)
                        .optional()
                        .map_err(db_error)?;
                    if let Some(row) = row {
                        view.load_record(row)?;
                    }
                    let applied: Option<Option<i64>> = op
                        .query_row(params![workspace, pending.stamp.op_id], |r| r.get(0))
                        .optional()
                        .map_err(db_error)?;
                    if let Some(applied) = applied {
                        view.load_op(pending.stamp.op_id.clone(), applied);
                    }
                }
            }
            let results = apply_push(&mut view, batch.ops, now_ms);
            {
                let mut upsert = tx
                    .prepare_cached(
                        "INSERT INTO sl_records (workspace, table_name, pk, op, payload, clock, hlc, device_id, op_id,
                             server_version, stored_at, purged)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, FALSE)
                         ON CONFLICT (workspace, table_name, pk) DO UPDATE SET op = excluded.op,
                             payload = excluded.payload, clock = excluded.clock, hlc = excluded.hlc,
                             device_id = excluded.device_id, op_id = excluded.op_id,
                             server_version = excluded.server_version, stored_at = excluded.stored_at,
                             purged = FALSE",
                    )
                    .map_err(db_error)?;
                for w in view.record_writes()? {
                    upsert
                        .execute(params![
                            workspace,
                            w.table_name,
                            w.pk,
                            w.op,
                            w.payload,
                            w.clock,
                            w.hlc,
                            w.device_id,
                            w.op_id,
                            w.server_version,
                            w.stored_at
                        ])
                        .map_err(db_error)?;
                }
                let mut remember = tx
                    .prepare_cached("INSERT INTO sl_ops (workspace, op_id, applied_at) VALUES (?1, ?2, ?3)")
                    .map_err(db_error)?;
                for (op_id, applied_at) in view.op_writes() {
                    remember.execute(params![workspace, op_id, applied_at.map(to_i64)]).map_err(db_error)?;
                }
                if view.version != version {
                    tx.execute(
                        "INSERT INTO sl_workspaces (id, version, floor) VALUES (?1, ?2, 0)
                         ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                        params![workspace, to_i64(view.version)],
                    )
                    .map_err(db_error)?;
                }
                // Pushing keeps a known device active; only cursor reports register one.
                tx.execute(
                    "UPDATE sl_devices SET seen_at = ?3 WHERE workspace = ?1 AND device_id = ?2",
                    params![workspace, batch.device_id, to_i64(now_ms)],
                )
                .map_err(db_error)?;
            }
            tx.commit().map_err(db_error)?;
            Ok(PushResult { results, server_version: view.version })
        })
        .await
    }

    pub async fn pull(&self, request: PullRequest, now_ms: u64) -> SyncResult<PullResponse<Payload>> {
        self.with(move |conn, config| {
            let tx = conn.transaction().map_err(db_error)?;
            let workspace = request.scope.workspace_id.clone();
            let (version, floor) = head(&tx, &workspace).map_err(db_error)?;
            let limit = check_pull(&request, version, floor, config)?;
            let cursor = to_i64(request.cursor);
            let remaining: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM sl_records WHERE workspace = ?1 AND server_version > ?2 AND NOT purged",
                    params![workspace, cursor],
                    |r| r.get(0),
                )
                .map_err(db_error)?;
            let mut rows = Vec::new();
            {
                let mut select = tx
                    .prepare_cached(&format!(
                        "SELECT {RECORD_COLUMNS} FROM sl_records
                         WHERE workspace = ?1 AND server_version > ?2 AND NOT purged
                         ORDER BY server_version LIMIT ?3"
                    ))
                    .map_err(db_error)?;
                let found = select
                    .query_map(params![workspace, cursor, (limit + 1) as i64], record_row)
                    .map_err(db_error)?;
                for row in found {
                    let (key, stored, _) = row.map_err(db_error)?.into_version()?;
                    rows.push((key, stored));
                }
            }
            if let Some(device) = &request.device_id {
                tx.execute(
                    "UPDATE sl_devices SET seen_at = ?3 WHERE workspace = ?1 AND device_id = ?2",
                    params![workspace, device, to_i64(now_ms)],
                )
                .map_err(db_error)?;
            }
            tx.commit().map_err(db_error)?;
            Ok(assemble_page(&request, rows, limit, to_u64(remaining), version, floor))
        })
        .await
        .map(|page| PullResponse { epoch: Some(self.epoch.to_string()), ..page })
    }

    pub async fn update_cursor(
        &self,
        scope: SyncScope,
        device_id: String,
        version: u64,
        now_ms: u64,
    ) -> SyncResult<()> {
        self.with(move |conn, _| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
            let (head_version, _) = head(&tx, &scope.workspace_id).map_err(db_error)?;
            check_cursor_update(&scope, &device_id, version, head_version)?;
            tx.execute(
                "INSERT INTO sl_devices (workspace, device_id, version, seen_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (workspace, device_id) DO UPDATE
                 SET version = MAX(sl_devices.version, excluded.version), seen_at = excluded.seen_at",
                params![scope.workspace_id, device_id, to_i64(version), to_i64(now_ms)],
            )
            .map_err(db_error)?;
            tx.commit().map_err(db_error)
        })
        .await
    }

    /// Purges the tombstones the core's rule allows, workspace by workspace.
    pub async fn collect_garbage(&self, now_ms: u64) -> SyncResult<usize> {
        self.with(move |conn, config| {
            let workspaces: Vec<String> = {
                let mut stmt = conn.prepare("SELECT id FROM sl_workspaces").map_err(db_error)?;
                let ids = stmt.query_map([], |r| r.get(0)).map_err(db_error)?;
                ids.collect::<rusqlite::Result<_>>().map_err(db_error)?
            };
            let mut purged = 0;
            for workspace in workspaces {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
                let (version, floor) = head(&tx, &workspace).map_err(db_error)?;
                let devices: Vec<(u64, u64)> = {
                    let mut stmt = tx
                        .prepare_cached("SELECT version, seen_at FROM sl_devices WHERE workspace = ?1")
                        .map_err(db_error)?;
                    let rows = stmt
                        .query_map([&workspace], |r| Ok((to_u64(r.get(0)?), to_u64(r.get(1)?))))
                        .map_err(db_error)?;
                    rows.collect::<rusqlite::Result<_>>().map_err(db_error)?
                };
                let horizon = purge_horizon(devices, version, now_ms, config);
                let mut doomed = Vec::new();
                {
                    let mut stmt = tx
                        .prepare_cached(&format!(
                            "SELECT {RECORD_COLUMNS} FROM sl_records
                             WHERE workspace = ?1 AND op = 'delete' AND NOT purged AND server_version <= ?2"
                        ))
                        .map_err(db_error)?;
                    let rows =
                        stmt.query_map(params![workspace, to_i64(horizon)], record_row).map_err(db_error)?;
                    for row in rows {
                        let (key, stored, _) = row.map_err(db_error)?.into_version()?;
                        if is_purgeable(&stored, horizon, now_ms, config) {
                            doomed.push((key, stored.server_version));
                        }
                    }
                }
                let mut new_floor = floor;
                for ((table, pk), server_version) in &doomed {
                    tx.execute(
                        "UPDATE sl_records SET purged = TRUE, payload = NULL
                         WHERE workspace = ?1 AND table_name = ?2 AND pk = ?3",
                        params![workspace, table, pk],
                    )
                    .map_err(db_error)?;
                    new_floor = new_floor.max(*server_version);
                }
                if new_floor != floor {
                    tx.execute(
                        "UPDATE sl_workspaces SET floor = ?2 WHERE id = ?1",
                        params![workspace, to_i64(new_floor)],
                    )
                    .map_err(db_error)?;
                }
                tx.commit().map_err(db_error)?;
                purged += doomed.len();
            }
            Ok(purged)
        })
        .await
    }

    pub async fn head(&self, workspace: String) -> SyncResult<u64> {
        self.with(move |conn, _| head(conn, &workspace).map(|(v, _)| v).map_err(db_error)).await
    }

    pub async fn stats(&self, workspace: String) -> SyncResult<WorkspaceStats> {
        self.with(move |conn, _| {
            let (version, floor) = head(conn, &workspace).map_err(db_error)?;
            let count = |sql: &str| -> SyncResult<u64> {
                conn.query_row(sql, [&workspace], |r| r.get::<_, i64>(0)).map(to_u64).map_err(db_error)
            };
            Ok(WorkspaceStats {
                version,
                floor,
                records: count("SELECT COUNT(*) FROM sl_records WHERE workspace = ?1 AND op = 'put'")?,
                tombstones: count(
                    "SELECT COUNT(*) FROM sl_records WHERE workspace = ?1 AND op = 'delete' AND NOT purged",
                )?,
                devices: count("SELECT COUNT(*) FROM sl_devices WHERE workspace = ?1")?,
                ops: count("SELECT COUNT(*) FROM sl_ops WHERE workspace = ?1")?,
            })
        })
        .await
    }

    pub async fn health(&self) -> SyncResult<()> {
        self.with(|conn, _| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(db_error)).await
    }
}
