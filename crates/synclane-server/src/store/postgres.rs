//! The store on PostgreSQL, for several server instances on one database. A push locks its
//! workspace's row (`FOR UPDATE`) for the whole batch, so versions are handed out in commit
//! order across instances; a pull reads in one snapshot (`REPEATABLE READ`), so its rows and
//! the head it reports agree. Pushes that applied something `NOTIFY` every instance.
//!
//! Over 400 lines for one reason: it is one backend, call for call in the order of `sqlite.rs`
//! (open, push, pull, cursors, GC, head, stats, health), plus the `LISTEN` loop, so the two
//! read side by side.

use super::stats::WorkspaceStats;
use super::view::{to_i64, to_u64, Payload, PushView, RecordRow};
use crate::stream::Hub;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::StreamExt;
use std::time::Duration;
use synclane_core::change::{PullRequest, PullResponse, PushBatch, PushResult, SyncScope};
use synclane_core::server_rules::{
    apply_push, assemble_page, check_cursor_update, check_pull, is_purgeable, purge_horizon, ServerConfig,
};
use synclane_core::{ErrorCode, SyncError, SyncResult};
use tokio_postgres::{AsyncMessage, IsolationLevel, NoTls, Row};

/// The channel pushes notify on.
pub const CHANNEL: &str = "synclane_changes";

#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    url: String,
    config: ServerConfig,
    /// The database's epoch (`sl_meta`), read once: it never changes while the database lives.
    epoch: std::sync::Arc<str>,
}

fn db_error(e: impl std::error::Error) -> SyncError {
    // tokio-postgres says only "db error" at the top; the cause holds the server's message.
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    SyncError::new(ErrorCode::ServerError, format!("database: {message}"))
}

const RECORD_COLUMNS: &str =
    "table_name, pk, op, payload, clock, hlc, device_id, op_id, server_version, stored_at, purged";

fn record_row(row: &Row) -> RecordRow {
    RecordRow {
        table_name: row.get(0),
        pk: row.get(1),
        op: row.get(2),
        payload: row.get(3),
        clock: row.get(4),
        hlc: row.get(5),
        device_id: row.get(6),
        op_id: row.get(7),
        server_version: row.get(8),
        stored_at: row.get(9),
        purged: row.get(10),
    }
}

async fn head(
    client: &impl deadpool_postgres::GenericClient,
    workspace: &str,
    lock: bool,
) -> SyncResult<(u64, u64)> {
    let sql = if lock {
        "SELECT version, floor FROM sl_workspaces WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT version, floor FROM sl_workspaces WHERE id = $1"
    };
    let row = client.query_opt(sql, &[&workspace]).await.map_err(db_error)?;
    Ok(row.map(|r| (to_u64(r.get(0)), to_u64(r.get(1)))).unwrap_or((0, 0)))
}

impl PostgresStore {
    pub async fn open(url: &str, config: ServerConfig) -> SyncResult<PostgresStore> {
        let pg_config: tokio_postgres::Config = url.parse().map_err(db_error)?;
        let manager =
            Manager::from_config(pg_config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager).max_size(16).build().map_err(db_error)?;
        let mut store = PostgresStore { pool, url: url.to_owned(), config, epoch: "".into() };
        let client = store.client().await?;
        // Two instances starting together must not both create the tables: a lock held until
        // the creating transaction commits orders them.
        client
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock(7011); {} \
                 INSERT INTO sl_meta (key, value) \
                 VALUES ('epoch', substr(md5(random()::text || clock_timestamp()::text), 1, 16)) \
                 ON CONFLICT (key) DO NOTHING; COMMIT;",
                include_str!("schema.sql")
            ))
            .await
            .map_err(db_error)?;
        let row =
            client.query_one("SELECT value FROM sl_meta WHERE key = 'epoch'", &[]).await.map_err(db_error)?;
        store.epoch = row.get::<_, String>(0).into();
        Ok(store)
    }

    async fn client(&self) -> SyncResult<deadpool_postgres::Client> {
        self.pool.get().await.map_err(|e| SyncError::new(ErrorCode::ServerError, format!("database: {e}")))
    }

    pub async fn push(&self, batch: PushBatch<Payload>, now_ms: u64) -> SyncResult<PushResult<Payload>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let workspace = batch.scope.workspace_id.clone();
        tx.execute(
            "INSERT INTO sl_workspaces (id, version, floor) VALUES ($1, 0, 0) ON CONFLICT (id) DO NOTHING",
            &[&workspace],
        )
        .await
        .map_err(db_error)?;
        let (version, floor) = head(&tx, &workspace, true).await?;
        let mut view = PushView::new(version, floor);
        let tables: Vec<&str> = batch.ops.iter().map(|o| o.table_name.as_str()).collect();
        let pks: Vec<&str> = batch.ops.iter().map(|o| o.pk.as_str()).collect();
        let op_ids: Vec<&str> = batch.ops.iter().map(|o| o.stamp.op_id.as_str()).collect();
        let records = tx
            .query(
                &format!(
                    "SELECT {RECORD_COLUMNS} FROM sl_records WHERE workspace = $1
                     AND (table_name, pk) IN (SELECT * FROM unnest($2::text[], $3::text[]))"
                ),
                &[&workspace, &tables, &pks],
            )
            .await
            .map_err(db_error)?;
        for row in &records {
            view.load_record(record_row(row))?;
        }
        let ops = tx
            .query(
                "SELECT op_id, applied_at FROM sl_ops WHERE workspace = $1 AND op_id = ANY($2)",
                &[&workspace, &op_ids],
            )
            .await
            .map_err(db_error)?;
        for row in &ops {
            view.load_op(row.get(0), row.get(1));
        }
        let results = apply_push(&mut view, batch.ops, now_ms);

        let writes = view.record_writes()?;
        if !writes.is_empty() {
            let column = |f: fn(&RecordRow) -> String| writes.iter().map(f).collect::<Vec<_>>();
            let tables = column(|w| w.table_name.clone());
            let pks = column(|w| w.pk.clone());
            let kinds = column(|w| w.op.clone());
            let hlcs = column(|w| w.hlc.clone());
            let devices = column(|w| w.device_id.clone());
            let ids = column(|w| w.op_id.clone());
            let payloads: Vec<Option<String>> = writes.iter().map(|w| w.payload.clone()).collect();
            let clocks: Vec<i64> = writes.iter().map(|w| w.clock).collect();
            let versions: Vec<i64> = writes.iter().map(|w| w.server_version).collect();
            let stored: Vec<i64> = writes.iter().map(|w| w.stored_at).collect();
            tx.execute(
                "INSERT INTO sl_records (workspace, table_name, pk, op, payload, clock, hlc, device_id, op_id,
                     server_version, stored_at, purged)
                 SELECT $1, t, k, o, p, c, h, d, i, v, s, FALSE
                 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[],
                             $8::text[], $9::text[], $10::bigint[], $11::bigint[]) AS u(t, k, o, p, c, h, d, i, v, s)
                 ON CONFLICT (workspace, table_name, pk) DO UPDATE SET op = excluded.op,
                     payload = excluded.payload, clock = excluded.clock, hlc = excluded.hlc,
                     device_id = excluded.device_id, op_id = excluded.op_id,
                     server_version = excluded.server_version, stored_at = excluded.stored_at, purged = FALSE",
                &[&workspace, &tables, &pks, &kinds, &payloads, &clocks, &hlcs, &devices, &ids, &versions, &stored],
            )
            .await
            .map_err(db_error)?;
        }
        if !view.op_writes().is_empty() {
            let ids: Vec<&str> = view.op_writes().iter().map(|(id, _)| id.as_str()).collect();
            let applied: Vec<Option<i64>> = view.op_writes().iter().map(|(_, at)| at.map(to_i64)).collect();
            tx.execute(
                "INSERT INTO sl_ops (workspace, op_id, applied_at)
                 SELECT $1, o, a FROM unnest($2::text[], $3::bigint[]) AS u(o, a)",
                &[&workspace, &ids, &applied],
            )
            .await
            .map_err(db_error)?;
        }
        if view.version != version {
            tx.execute(
                "UPDATE sl_workspaces SET version = $2 WHERE id = $1",
                &[&workspace, &to_i64(view.version)],
            )
            .await
            .map_err(db_error)?;
            // Delivered to every listening instance when (and only if) the transaction commits.
            let note = serde_json::json!({ "workspaceId": workspace, "version": view.version }).to_string();
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &note]).await.map_err(db_error)?;
        }
        tx.execute(
            "UPDATE sl_devices SET seen_at = $3 WHERE workspace = $1 AND device_id = $2",
            &[&workspace, &batch.device_id, &to_i64(now_ms)],
        )
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(PushResult { results, server_version: view.version })
    }

    pub async fn pull(&self, request: PullRequest, now_ms: u64) -> SyncResult<PullResponse<Payload>> {
        let mut client = self.client().await?;
        let workspace = request.scope.workspace_id.clone();
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db_error)?;
        let (version, floor) = head(&tx, &workspace, false).await?;
        let limit = check_pull(&request, version, floor, &self.config)?;
        let cursor = to_i64(request.cursor);
        let remaining: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM sl_records WHERE workspace = $1 AND server_version > $2 AND NOT purged",
                &[&workspace, &cursor],
            )
            .await
            .map_err(db_error)?
            .get(0);
        let found = tx
            .query(
                &format!(
                    "SELECT {RECORD_COLUMNS} FROM sl_records WHERE workspace = $1 AND server_version > $2
                     AND NOT purged ORDER BY server_version LIMIT $3"
                ),
                &[&workspace, &cursor, &((limit + 1) as i64)],
            )
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        let mut rows = Vec::with_capacity(found.len());
        for row in &found {
            let (key, stored, _) = record_row(row).into_version()?;
            rows.push((key, stored));
        }
        if let Some(device) = &request.device_id {
            client
                .execute(
                    "UPDATE sl_devices SET seen_at = $3 WHERE workspace = $1 AND device_id = $2",
                    &[&workspace, device, &to_i64(now_ms)],
                )
                .await
                .map_err(db_error)?;
        }
        let page = assemble_page(&request, rows, limit, to_u64(remaining), version, floor);
        Ok(PullResponse { epoch: Some(self.epoch.to_string()), ..page })
    }

    pub async fn update_cursor(
        &self,
        scope: SyncScope,
        device_id: String,
        version: u64,
        now_ms: u64,
    ) -> SyncResult<()> {
        let client = self.client().await?;
        let (head_version, _) = head(&client, &scope.workspace_id, false).await?;
        check_cursor_update(&scope, &device_id, version, head_version)?;
        client
            .execute(
                "INSERT INTO sl_devices (workspace, device_id, version, seen_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (workspace, device_id) DO UPDATE
                 SET version = GREATEST(sl_devices.version, excluded.version), seen_at = excluded.seen_at",
                &[&scope.workspace_id, &device_id, &to_i64(version), &to_i64(now_ms)],
            )
            .await
            .map_err(db_error)?;
        Ok(())
    }

    pub async fn collect_garbage(&self, now_ms: u64) -> SyncResult<usize> {
        let mut client = self.client().await?;
        let workspaces: Vec<String> = client
            .query("SELECT id FROM sl_workspaces", &[])
            .await
            .map_err(db_error)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut purged = 0;
        for workspace in workspaces {
            let tx = client.transaction().await.map_err(db_error)?;
            let (version, floor) = head(&tx, &workspace, true).await?;
            let devices: Vec<(u64, u64)> = tx
                .query("SELECT version, seen_at FROM sl_devices WHERE workspace = $1", &[&workspace])
                .await
                .map_err(db_error)?
                .iter()
                .map(|r| (to_u64(r.get(0)), to_u64(r.get(1))))
                .collect();
            let horizon = purge_horizon(devices, version, now_ms, &self.config);
            let candidates = tx
                .query(
                    &format!(
                        "SELECT {RECORD_COLUMNS} FROM sl_records
                         WHERE workspace = $1 AND op = 'delete' AND NOT purged AND server_version <= $2"
                    ),
                    &[&workspace, &to_i64(horizon)],
                )
                .await
                .map_err(db_error)?;
            let mut tables = Vec::new();
            let mut pks = Vec::new();
            let mut new_floor = floor;
            for row in &candidates {
                let ((table, pk), stored, _) = record_row(row).into_version()?;
                if is_purgeable(&stored, horizon, now_ms, &self.config) {
                    new_floor = new_floor.max(stored.server_version);
                    tables.push(table);
                    pks.push(pk);
                }
            }
            if !tables.is_empty() {
                tx.execute(
                    "UPDATE sl_records SET purged = TRUE, payload = NULL WHERE workspace = $1
                     AND (table_name, pk) IN (SELECT * FROM unnest($2::text[], $3::text[]))",
                    &[&workspace, &tables, &pks],
                )
                .await
                .map_err(db_error)?;
                tx.execute(
                    "UPDATE sl_workspaces SET floor = $2 WHERE id = $1",
                    &[&workspace, &to_i64(new_floor)],
                )
                .await
                .map_err(db_error)?;
            }
            tx.commit().await.map_err(db_error)?;
            purged += tables.len();
        }
        Ok(purged)
    }

    pub async fn head(&self, workspace: String) -> SyncResult<u64> {
        let client = self.client().await?;
        Ok(head(&client, &workspace, false).await?.0)
    }

    pub async fn stats(&self, workspace: String) -> SyncResult<WorkspaceStats> {
        let client = self.client().await?;
        let (version, floor) = head(&client, &workspace, false).await?;
        let row = client
            .query_one(
                "SELECT
                   (SELECT COUNT(*) FROM sl_records WHERE workspace = $1 AND op = 'put'),
                   (SELECT COUNT(*) FROM sl_records WHERE workspace = $1 AND op = 'delete' AND NOT purged),
                   (SELECT COUNT(*) FROM sl_devices WHERE workspace = $1),
                   (SELECT COUNT(*) FROM sl_ops WHERE workspace = $1)",
                &[&workspace],
            )
            .await
            .map_err(db_error)?;
        Ok(WorkspaceStats {
            version,
            floor,
            records: to_u64(row.get(0)),
            tombstones: to_u64(row.get(1)),
            devices: to_u64(row.get(2)),
            ops: to_u64(row.get(3)),
        })
    }

    pub async fn health(&self) -> SyncResult<()> {
        self.client().await?.query_one("SELECT 1", &[]).await.map(|_| ()).map_err(db_error)
    }

    /// Forwards the notifications of every instance's pushes to this instance's streams, on a
    /// connection of its own; reconnects when it drops.
    pub fn listen(&self, hub: Hub) {
        let url = self.url.clone();
        tokio::spawn(async move {
            loop {
                match listen_once(&url, &hub).await {
                    Ok(()) => tracing::warn!("notification connection closed; reconnecting"),
                    Err(e) => tracing::warn!(error = %e, "notification connection failed; reconnecting"),
                }
                // Streams may have missed changes meanwhile: every client pulls again.
                hub.publish_all();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}

async fn listen_once(url: &str, hub: &Hub) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await?;
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    // The connection must be polled for LISTEN to complete, so both run together.
    let forward = async {
        while let Some(message) = messages.next().await {
            if let AsyncMessage::Notification(note) = message? {
                #[derive(serde::Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Note {
                    workspace_id: String,
                    version: u64,
                }
                if let Ok(note) = serde_json::from_str::<Note>(note.payload()) {
                    hub.publish(&note.workspace_id, note.version);
                }
            }
        }
        Ok::<(), tokio_postgres::Error>(())
    };
    let subscribe = async {
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        // Keeps the client (and so the connection) alive while notifications are forwarded.
        std::future::pending::<()>().await;
        Ok::<(), tokio_postgres::Error>(())
    };
    tokio::select! {
        result = forward => result,
        result = subscribe => result,
    }
}
