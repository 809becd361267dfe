//! `EngineCore`: the engine's wasm class. It owns the workspace database, the device's clock
//! and echo cache; the TypeScript `SyncEngine` wraps it. Every method crosses the boundary once
//! per batch and returns a Promise.

use crate::changes::parse_changes;
use crate::idb;
use crate::options::OpenOptions;
use crate::payload::JsPayload;
use crate::results;
use crate::store::outbox as idb_outbox;
use crate::store::records::{app_record, from_stored, StoredEntry};
use crate::store::remote::{apply_remote, PageEnd};
use crate::store::rows::{
    parse_state, read_state, read_state_request, read_totals, totals_from_row, write_state, CURSOR_STATE,
    DEVICE_STATE, LEGACY_CLOCK_STATE, OUTBOX_TOTALS,
};
use crate::store::schema::{PENDING_OPS, SYNC_STATE};
use crate::store::settle::{self, FailedOpAction, Settlement};
use crate::store::tx::{commit, object_store, read_result};
use crate::store::write::{write_batch, LocalWrite};
use crate::store::Store;
use crate::store::{rescan, staging};
use js_sys::{Array, Promise, Reflect};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use synclane_core::change::SyncChange;
use synclane_core::cursor::CursorState;
use synclane_core::echo::RecentOpCache;
use synclane_core::hlc::{ClockPolicy, HlcStamp, HybridClock};
use synclane_core::outbox::{OutboxConfig, PushOutcome};
use synclane_core::validate::{validate_remote_batch, RawChange, ValidationContext};
use synclane_core::{ChangeStamp, ErrorCode, OpKind, Quoted, SyncError, SyncResult};
use synclane_js::error::to_js_error;
use synclane_js::interop::now_ms;
use synclane_js::read::{read_error, Fields};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

struct Inner {
    store: Rc<Store>,
    workspace_id: String,
    device_id: String,
    clock: HybridClock,
    echo: RecentOpCache,
    outbox: OutboxConfig,
}

impl Inner {
    /// Validates a remote batch against this workspace's tables and clock policy.
    fn validate_remote(&self, raw: Vec<RawChange<JsPayload>>) -> SyncResult<Vec<SyncChange<JsPayload>>> {
        let ctx = ValidationContext {
            clock: self.clock.policy(),
            ..ValidationContext::new(Some(&self.store.table_names), now_ms())
        };
        validate_remote_batch(raw, &ctx)
    }
}

/// The engine's core: storage, stamping and conflict resolution for one workspace.
#[wasm_bindgen]
pub struct EngineCore {
    inner: Rc<RefCell<Inner>>,
}

/// Every method's future, as a Promise. One non-generic conversion: a generic one would be
/// copied, with the method's whole body inlined, for each method.
fn promise(future: impl Future<Output = SyncResult<JsValue>> + 'static) -> Promise {
    boxed_promise(Box::pin(future))
}

#[inline(never)]
fn boxed_promise(future: Pin<Box<dyn Future<Output = SyncResult<JsValue>>>>) -> Promise {
    future_to_promise(async move { future.await.map_err(to_js_error) })
}

/// A fresh random id (128 bits, hex).
pub fn random_id() -> SyncResult<String> {
    RandomIds::new(1).next()
}

/// Random ids for a batch, drawn from the browser's generator a few dozen at a time: one call
/// across the boundary per id was a measurable share of a large batch.
struct RandomIds {
    bytes: Vec<u8>,
    /// How many ids each draw makes.
    per_draw: usize,
}

impl RandomIds {
    const ID_BYTES: usize = 16;

    fn new(expected: usize) -> Self {
        RandomIds { bytes: Vec::new(), per_draw: expected.clamp(1, 64) }
    }

    fn next(&mut self) -> SyncResult<String> {
        if self.bytes.len() < Self::ID_BYTES {
            self.bytes = vec![0; Self::ID_BYTES * self.per_draw];
            getrandom::getrandom(&mut self.bytes).map_err(|_| {
                SyncError::new(ErrorCode::Internal, "no randomness: crypto.getRandomValues failed")
            })?;
        }
        let id = self.bytes.split_off(self.bytes.len() - Self::ID_BYTES);
        let hex = |digit: u8| char::from(b"0123456789abcdef"[usize::from(digit)]);
        Ok(id.iter().flat_map(|b| [hex(b >> 4), hex(b & 0xf)]).collect())
    }
}

/// The database name used when the app does not choose one.
pub fn default_db_name(workspace_id: &str) -> String {
    format!("synclane:{workspace_id}")
}

#[wasm_bindgen]
impl EngineCore {
    /// Opens (creating or upgrading) the workspace database. `options`: `{ workspaceId,
    /// tables: [{ name, indexes?: [{ name, keyPath, unique?, multiEntry? }] }], dbName?,
    /// deviceId?, clock?: { maxDriftMs?, rejectFutureMs? } }`.
    pub fn open(options: JsValue) -> Promise {
        promise(async move { EngineCore::connect_core(options).await.map(JsValue::from) })
    }

    #[wasm_bindgen(getter, js_name = deviceId)]
    pub fn device_id(&self) -> String {
        self.inner.borrow().device_id.clone()
    }

    #[wasm_bindgen(getter, js_name = workspaceId)]
    pub fn workspace_id(&self) -> String {
        self.inner.borrow().workspace_id.clone()
    }

    #[wasm_bindgen(getter, js_name = dbName)]
    pub fn db_name(&self) -> String {
        self.inner.borrow().store.name.clone()
    }

    /// Writes a batch in one transaction: `[{ table, op: 'put', record } | { table, op:
    /// 'delete', id }]`. Resolves to `{ captured: [...], outbox: { count, bytes } }`.
    pub fn write(&self, ops: JsValue) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let store = inner.borrow().store.clone();
            store.ready().await?;
            let writes = parse_writes(&store, &ops)?;
            let device_id = inner.borrow().device_id.clone();
            let stamp_inner = inner.clone();
            let mut failure = None;
            let mut ids = RandomIds::new(writes.len());
            let mut stamp = |clock: u64| {
                let op_id = ids.next().unwrap_or_else(|e| {
                    failure = Some(e);
                    String::new()
                });
                ChangeStamp {
                    clock,
                    hlc: stamp_inner.borrow().clock.now().encode(),
                    device_id: device_id.clone(),
                    op_id,
                }
            };
            let outcome = write_batch(&store, writes, &mut stamp, now_ms()).await?;
            if let Some(err) = failure {
                return Err(err);
            }
            let result = js_sys::Object::new();
            Reflect::set(&result, &"captured".into(), &outcome.captured).ok();
            Reflect::set(&result, &"outbox".into(), &results::totals(&outcome.totals)).ok();
            Ok(result.into())
        })
    }

    /// One record by id, or `undefined`.
    pub fn get(&self, table: String, id: String, with_meta: bool) -> Promise {
        let store = self.inner.borrow().store.clone();
        promise(async move {
            store.ready().await?;
            store.check_table(&table)?;
            let tx = store.transaction(&[&table], false)?;
            let req = object_store(&tx, &table)?
                .get(&JsValue::from_str(&id))
                .map_err(|e| idb::storage_error("reading a record", &e))?;
            Ok(app_record(idb::request(&req, "reading a record").await?, with_meta))
        })
    }

    /// Records of a table, by key or by index: `{ index?, only?, lower?, upper?, lowerOpen?,
    /// upperOpen?, limit?, withMeta? }`.
    #[wasm_bindgen(js_name = getAll)]
    pub fn get_all(&self, table: String, query: JsValue) -> Promise {
        let store = self.inner.borrow().store.clone();
        promise(async move {
            store.ready().await?;
            store.check_table(&table)?;
            let query = crate::query::Query::from_js(query)?;
            let tx = store.transaction(&[&table], false)?;
            let records = crate::query::run(&tx, &table, &query).await?;
            let out = Array::new();
            for record in records.iter() {
                out.push(&app_record(record, query.with_meta));
            }
            Ok(out.into())
        })
    }

    /// Applies a batch of remote changes with the cursor advance, atomically. The batch is
    /// validated first; a bad batch is rejected whole and changes nothing. `epoch` is the
    /// page's `PullResponse.epoch`: a page from another server data set than the cursor's is
    /// refused with `cursor_expired` (the server was reset; rescan). Resolves to the
    /// apply report with `skewMs`: how far ahead of the local clock the furthest stamp beyond
    /// the drift bound was (0 if none).
    #[wasm_bindgen(js_name = applyRemote)]
    pub fn apply_remote(
        &self,
        changes: JsValue,
        next_cursor: f64,
        has_more: bool,
        epoch: Option<String>,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let next_cursor = synclane_js::interop::version_arg(next_cursor, "nextCursor")?;
            apply_changes(inner, changes, Some(PageEnd { next_cursor, has_more, epoch })).await
        })
    }

    /// Applies the winning versions a push reported for superseded ops (`current`): by the
    /// conflict rule, whatever the cursor, which does not move. They may sit below the cursor
    /// (a delete whose tombstone the server purged) and would never arrive by pulling.
    #[wasm_bindgen(js_name = applyWinners)]
    pub fn apply_winners(&self, changes: JsValue) -> Promise {
        let inner = self.inner.clone();
        promise(async move { apply_changes(inner, changes, None).await })
    }

    /// Remembers op ids this device pushed, so their echoes are skipped.
    #[wasm_bindgen(js_name = rememberPushed)]
    ///
    /// Taken as an array rather than a `Vec<String>`, whose conversion code costs more wasm
    /// than this whole method; entries that are not strings are skipped.
    pub fn remember_pushed(&self, #[wasm_bindgen(unchecked_param_type = "string[]")] op_ids: js_sys::Array) {
        let mut inner = self.inner.borrow_mut();
        for id in op_ids.iter() {
            if let Some(id) = id.as_string() {
                inner.echo.remember(&id);
            }
        }
    }

    /// The cursor state: `{ phase, cursor }`.
    #[wasm_bindgen(js_name = cursorState)]
    pub fn cursor_state(&self) -> Promise {
        let store = self.inner.borrow().store.clone();
        promise(async move {
            store.ready().await?;
            let tx = store.transaction(&[SYNC_STATE], false)?;
            let cursor: CursorState = read_state(&tx, CURSOR_STATE).await?.unwrap_or_default();
            Ok(results::cursor(&cursor))
        })
    }

    /// The outbox, in queue order, for tools: entries with state, attempts, next retry, size
    /// and last error (payloads included).
    pub fn outbox(&self) -> Promise {
        let store = self.inner.borrow().store.clone();
        promise(async move {
            store.ready().await?;
            let tx = store.transaction(&[PENDING_OPS, SYNC_STATE], false)?;
            let req = object_store(&tx, PENDING_OPS)?
                .get_all()
                .map_err(|e| idb::storage_error("reading the outbox", &e))?;
            let entries = idb::request(&req, "reading the outbox").await?;
            // Validate the shape so tools never see a half-written entry.
            for entry in Array::from(&entries).iter() {
                from_stored::<StoredEntry>(entry, "outbox entry")?;
            }
            let totals = read_totals(&tx).await?;
            let out = js_sys::Object::new();
            Reflect::set(&out, &"entries".into(), &entries).ok();
            Reflect::set(&out, &"totals".into(), &results::totals(&totals)).ok();
            Ok(out.into())
        })
    }

    /// A bounded, read-only view for tools: `{ outbox: { entries, totals }, tombstones,
    /// conflicts: { entries, total }, cursor }`. Options: `{ outboxLimit = 500,
    /// conflictLimit = 100 }`.
    pub fn inspect(&self, options: JsValue) -> Promise {
        let store = self.inner.borrow().store.clone();
        promise(async move {
            let options = crate::store::inspect::InspectOptions::from_js(options)?;
            store.ready().await?;
            Ok(results::inspection(&crate::store::inspect::inspect(&store, options).await?))
        })
    }

    /// Takes the next due batch of the outbox and marks it in flight: `[{ seq, op }]`.
    #[wasm_bindgen(js_name = takeBatch)]
    pub fn take_batch(&self) -> Promise {
        let (store, config) = {
            let inner = self.inner.borrow();
            (inner.store.clone(), inner.outbox.clone())
        };
        promise(async move {
            store.ready().await?;
            Ok(idb_outbox::take_batch(&store, now_ms(), &config).await?.into())
        })
    }

    /// Settles pushed ops: `[{ seq, opId, error?: { code, message, retryAfterMs? } }]`; no
    /// error means the server acknowledged the op. Resolves to `{ removed, retrying, failed,
    /// totals }`.
    pub fn settle(&self, settlements: JsValue) -> Promise {
        let (store, config) = {
            let inner = self.inner.borrow();
            (inner.store.clone(), inner.outbox.clone())
        };
        promise(async move {
            store.ready().await?;
            let settlements = parse_settlements(&settlements)?;
            let report =
                settle::settle(&store, settlements, now_ms(), js_sys::Math::random(), &config).await?;
            Ok(results::settled(&report))
        })
    }

    /// Makes a failed op pending again, now.
    #[wasm_bindgen(js_name = retryOp)]
    pub fn retry_op(&self, op_id: String) -> Promise {
        let store = self.inner.borrow().store.clone();
        promise(async move {
            store.ready().await?;
            settle::resolve_failed(&store, &op_id, FailedOpAction::Retry, now_ms()).await
        })
    }

    /// Removes a failed op from the outbox; resolves to the discarded entry.
    #[wasm_bindgen(js_name = discardOp)]
    pub fn discard_op(&self, op_id: String) -> Promise {
        let store = self.inner.borrow().store.clone();
        promise(async move {
            store.ready().await?;
            settle::resolve_failed(&store, &op_id, FailedOpAction::Discard, now_ms()).await
        })
    }

    /// Puts in-flight ops back to pending (after a restart or a takeover of the sync loop).
    #[wasm_bindgen(js_name = recoverInFlight)]
    pub fn recover_in_flight(&self) -> Promise {
        let store = self.inner.borrow().store.clone();
        promise(async move {
            store.ready().await?;
            Ok(JsValue::from_f64(f64::from(settle::recover_in_flight(&store).await?)))
        })
    }

    /// Starts (or restarts) a rescan after the cursor expired: the staging is emptied.
    #[wasm_bindgen(js_name = beginRescan)]
    pub fn begin_rescan(&self) -> Promise {
        let store = self.inner.borrow().store.clone();
        promise(async move {
            store.ready().await?;
            Ok(results::cursor(&staging::begin(&store).await?))
        })
    }

    /// Stages one page of the server's full set. `page` is `{ fromCursor, nextCursor, hasMore,
    /// total?, retentionFloor, epoch? }`: pages must be contiguous (`fromCursor` is where the
    /// previous one ended) and of one `epoch` (the pull's `PullResponse.epoch`); the changes are
    /// validated like any remote batch. Resolves to the staging state `{ nextCursor, received,
    /// expectedTotal?, retentionFloor, complete, epoch? }`.
    #[wasm_bindgen(js_name = stageRescanPage)]
    pub fn stage_rescan_page(&self, changes: JsValue, page: JsValue) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let page = Fields::of(page)
                .and_then(|f| staging::StagedPage::read(&f))
                .map_err(read_error("a rescan page", synclane_core::ErrorCode::InvalidArgument))?;
            let store = inner.borrow().store.clone();
            store.ready().await?;
            let validated = inner.borrow().validate_remote(parse_changes(&changes)?)?;
            let state = staging::stage_page(&store, validated, page).await?;
            Ok(results::staging(&state))
        })
    }

    /// What the next sync would push, marking nothing: `{ batches, ops, bytes, waiting,
    /// failed, inFlight }`.
    #[wasm_bindgen(js_name = previewPush)]
    pub fn preview_push(&self) -> Promise {
        let (store, config) = {
            let inner = self.inner.borrow();
            (inner.store.clone(), inner.outbox.clone())
        };
        promise(async move {
            store.ready().await?;
            Ok(results::preview(&idb_outbox::preview(&store, now_ms(), &config).await?))
        })
    }

    /// What a rescan would change given the server's full set (`changes`, every page of a
    /// snapshot pull), computed read-only: `{ creations, updates, deletions, keptForRebase,
    /// summary }`. Bad changes are rejected as a rescan page would be.
    #[wasm_bindgen(js_name = planRescan)]
    pub fn plan_rescan(&self, changes: JsValue) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let store = inner.borrow().store.clone();
            store.ready().await?;
            let validated = inner.borrow().validate_remote(parse_changes(&changes)?)?;
            let plan = rescan::dry_run(&store, validated).await?;
            Ok(results::plan(&plan))
        })
    }

    /// Swaps the staged set in (one transaction). Resolves to `{ summary: { creations, updates,
    /// deletions, keptForRebase }, cursor, changed: [[table, pk], ...] }`.
    #[wasm_bindgen(js_name = completeRescan)]
    pub fn complete_rescan(&self) -> Promise {
        let store = self.inner.borrow().store.clone();
        promise(async move {
            store.ready().await?;
            Ok(results::rescan_report(&rescan::complete(&store, now_ms()).await?))
        })
    }

    /// Abandons a rescan; local data is untouched and the cursor is expired again.
    #[wasm_bindgen(js_name = abortRescan)]
    pub fn abort_rescan(&self) -> Promise {
        let store = self.inner.borrow().store.clone();
        promise(async move {
            store.ready().await?;
            Ok(results::cursor(&staging::abort_rescan(&store).await?))
        })
    }

    /// Where a rescan's staging stands.
    #[wasm_bindgen(js_name = stagingState)]
    pub fn staging_state(&self) -> Promise {
        let store = self.inner.borrow().store.clone();
        promise(async move {
            store.ready().await?;
            Ok(results::staging(&staging::staging_state(&store).await?))
        })
    }

    /// Purges tombstones that are old enough, covered by the cursor and have no pending op.
    /// Resolves to how many were purged.
    #[wasm_bindgen(js_name = collectGarbage)]
    pub fn collect_garbage(&self, retention_ms: f64) -> Promise {
        let store = self.inner.borrow().store.clone();
        promise(async move {
            let retention = synclane_js::interop::version_arg(retention_ms, "retentionMs")?;
            store.ready().await?;
            let purged = crate::store::gc::collect(&store, retention, now_ms()).await?;
            Ok(JsValue::from_f64(purged as f64))
        })
    }

    /// Registers the callback told when the database goes away under the engine: `{ reason:
    /// 'deleted', pendingOps }` when it was deleted (the engine is then closed; `pendingOps` are
    /// the outbox entries read before it went), `{ reason: 'closed' }` when the browser closed the
    /// connection (the engine reopens it on its next use).
    #[wasm_bindgen(js_name = onStorageLost)]
    pub fn on_storage_lost(&self, callback: Option<js_sys::Function>) {
        self.inner.borrow().store.set_on_lost(callback);
    }

    /// Closes the database connection.
    pub fn close(&self) {
        self.inner.borrow().store.close();
    }

    /// Deletes a workspace database by name.
    #[wasm_bindgen(js_name = deleteDatabase)]
    pub fn delete_database(name: String) -> Promise {
        promise(async move {
            idb::delete_database(&name).await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

impl EngineCore {
    /// Opens an engine from Rust (tests, other Rust code); JavaScript uses `EngineCore.open`.
    pub async fn connect(options: JsValue) -> Result<EngineCore, JsValue> {
        EngineCore::connect_core(options).await.map_err(to_js_error)
    }

    async fn connect_core(options: JsValue) -> SyncResult<EngineCore> {
        let options = OpenOptions::from_js(options)?;
        if options.workspace_id.is_empty() {
            return Err(SyncError::invalid_argument("workspaceId must not be empty"));
        }
        let mut seen = std::collections::HashSet::new();
        for table in &options.tables {
            if !synclane_core::validate::is_valid_table_name(&table.name) {
                return Err(SyncError::invalid_argument(format!(
                    "{} is not a valid table name",
                    Quoted(&table.name)
                )));
            }
            if !seen.insert(table.name.clone()) {
                return Err(SyncError::invalid_argument(format!(
                    "table {} is declared twice",
                    Quoted(&table.name)
                )));
            }
        }
        let outbox_config = options.outbox.clone().unwrap_or_default();
        outbox_config.validate()?;
        let db_name = options.db_name.clone().unwrap_or_else(|| default_db_name(&options.workspace_id));
        let store = Store::open(&db_name, options.tables).await?;
        // Device id and clock survive restarts: read them, or create the device id once.
        // The three reads go out together: one round trip.
        let tx = store.transaction(&[SYNC_STATE], true)?;
        let device_req = read_state_request(&tx, DEVICE_STATE)?;
        let legacy_req = read_state_request(&tx, LEGACY_CLOCK_STATE)?;
        let totals_req = read_state_request(&tx, OUTBOX_TOTALS)?;
        idb::group_done(Some(&totals_req), "reading sync state").await?;
        let stored_device: Option<String> =
            parse_state(read_result(Some(device_req), "reading sync state")?, DEVICE_STATE)?;
        let legacy_hlc: Option<String> =
            parse_state(read_result(Some(legacy_req), "reading sync state")?, LEGACY_CLOCK_STATE)?;
        let last_local = totals_from_row(read_result(Some(totals_req), "reading sync state")?)?.last_hlc;
        let device_id = match (options.device_id, stored_device) {
            (Some(id), _) => id,
            (None, Some(id)) => id,
            (None, None) => random_id()?,
        };
        write_state(&tx, DEVICE_STATE, &JsValue::from_str(&device_id))?;
        commit(&tx, "saving the device id").await?;
        let defaults = ClockPolicy::default();
        let policy = ClockPolicy {
            max_drift_ms: options
                .clock
                .as_ref()
                .and_then(|c| c.max_drift_ms)
                .unwrap_or(defaults.max_drift_ms),
            reject_future_ms: options
                .clock
                .as_ref()
                .and_then(|c| c.reject_future_ms)
                .unwrap_or(defaults.reject_future_ms),
        };
        let clock = HybridClock::new(&device_id, Box::new(now_ms), policy)?;
        let legacy = legacy_hlc.as_deref().and_then(|h| HlcStamp::parse(h).ok());
        if let Some(stamp) = legacy.max(last_local) {
            clock.restore(stamp);
        }
        let inner = Inner {
            store: Rc::new(store),
            workspace_id: options.workspace_id,
            device_id,
            clock,
            echo: RecentOpCache::default(),
            outbox: outbox_config,
        };
        Ok(EngineCore { inner: Rc::new(RefCell::new(inner)) })
    }
}

fn parse_writes(store: &Store, ops: &JsValue) -> SyncResult<Vec<LocalWrite>> {
    if !Array::is_array(ops) {
        return Err(SyncError::invalid_argument("write expects an array of ops"));
    }
    let mut writes = Vec::new();
    for (index, op) in Array::from(ops).iter().enumerate() {
        let field = |name: &str| Reflect::get(&op, &name.into()).unwrap_or(JsValue::UNDEFINED);
        let table = field("table")
            .as_string()
            .ok_or_else(|| SyncError::invalid_argument(format!("op #{index}: table must be a string")))?;
        store.check_table(&table)?;
        let kind = field("op").as_string().and_then(|o| OpKind::parse(&o));
        match kind {
            Some(OpKind::Put) => {
                let record = field("record");
                use synclane_core::change::Payload;
                if !JsPayload(record.clone()).is_object() {
                    return Err(SyncError::new(
                        ErrorCode::InvalidPayload,
                        format!("op #{index}: a record must be an object"),
                    ));
                }
                // The id is kept as the JavaScript string it is too, so the batch's requests
                // and objects use it without decoding it again.
                let pk_js = Reflect::get(&record, &"id".into()).unwrap_or(JsValue::UNDEFINED);
                let pk = pk_js.as_string().filter(|id| !id.is_empty()).ok_or_else(|| {
                    SyncError::new(
                        ErrorCode::InvalidPayload,
                        format!("op #{index}: a record needs a non-empty string id"),
                    )
                })?;
                writes.push(LocalWrite { table, pk, pk_js, op: OpKind::Put, record: Some(record) });
            }
            Some(OpKind::Delete) => {
                let pk_js = field("id");
                let pk = pk_js.as_string().filter(|id| !id.is_empty()).ok_or_else(|| {
                    SyncError::invalid_argument(format!("op #{index}: a delete needs a non-empty string id"))
                })?;
                writes.push(LocalWrite { table, pk, pk_js, op: OpKind::Delete, record: None });
            }
            None => {
                return Err(SyncError::invalid_argument(format!(
                    "op #{index}: op must be \"put\" or \"delete\""
                )))
            }
        }
    }
    Ok(writes)
}

async fn apply_changes(
    inner: Rc<RefCell<Inner>>,
    changes: JsValue,
    page: Option<PageEnd>,
) -> SyncResult<JsValue> {
    let store = inner.borrow().store.clone();
    store.ready().await?;
    let validated = {
        let guard = inner.borrow();
        let raw = parse_changes(&changes)?;
        if page.is_some() {
            guard.validate_remote(raw)?
        } else {
            // Winners come from different records of one push: no ascending order to check.
            let mut validated = Vec::with_capacity(raw.len());
            for change in raw {
                validated.extend(guard.validate_remote(vec![change])?);
            }
            validated
        }
    };
    let (echoes, stamps): (Vec<bool>, Vec<String>) = {
        let guard = inner.borrow();
        validated.iter().map(|c| (guard.echo.is_echo(&c.stamp.op_id), c.stamp.hlc.clone())).unzip()
    };
    let originals = Array::from(&changes).iter().collect();
    let report = apply_remote(&store, validated, originals, page, echoes, now_ms()).await?;
    let mut skew = 0u64;
    for hlc in &stamps {
        if let Ok(synclane_core::hlc::MergeOutcome::Skewed { ahead_ms }) = inner.borrow().clock.merge(hlc) {
            skew = skew.max(ahead_ms);
        }
    }
    Ok(results::applied(&report).num("skewMs", skew).into_js())
}

fn parse_settlements(value: &JsValue) -> SyncResult<Vec<Settlement>> {
    if !Array::is_array(value) {
        return Err(SyncError::invalid_argument("settle expects an array"));
    }
    Array::from(value)
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let field = |name: &str| Reflect::get(&item, &name.into()).unwrap_or(JsValue::UNDEFINED);
            let seq = synclane_js::interop::version_arg(field("seq").as_f64().unwrap_or(-1.0), "seq")?;
            let op_id = field("opId").as_string().ok_or_else(|| {
                SyncError::invalid_argument(format!("settlement #{index}: opId must be a string"))
            })?;
            let error = field("error");
            let outcome = if error.is_undefined() || error.is_null() {
                PushOutcome::Acknowledged
            } else {
                let text = |name: &str| Reflect::get(&error, &name.into()).ok().and_then(|v| v.as_string());
                let code = text("code").and_then(|c| ErrorCode::parse(&c)).unwrap_or(ErrorCode::Internal);
                let mut err = SyncError::new(code, text("message").unwrap_or_default());
                err.retry_after_ms = Reflect::get(&error, &"retryAfterMs".into())
                    .ok()
                    .and_then(|v| v.as_f64())
                    .map(|v| v.max(0.0) as u64);
                PushOutcome::Failed(err)
            };
            Ok(Settlement { seq, op_id, outcome })
        })
        .collect()
}
