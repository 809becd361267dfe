//! `EngineCore`: the engine's wasm class. It owns the workspace database, the device's clock
//! and echo cache; the TypeScript `SyncEngine` wraps it. Every method crosses the boundary once
//! per batch and returns a Promise.
//!
//! This file opens and closes the engine; its methods are grouped by concern, each group a
//! `#[wasm_bindgen] impl EngineCore` of its own: `local` (writes and reads), `sync` (what the
//! sync loop calls), `rescan`, `tools` (devtools, `plan()`, GC). Those files use this one's
//! items; this one uses none of theirs.

mod local;
mod rescan;
mod sync;
mod tools;

use crate::idb;
use crate::options::OpenOptions;
use crate::payload::JsPayload;
use crate::store::rows::{
    parse_state, read_state_request, totals_from_row, write_state, DEVICE_STATE, LEGACY_CLOCK_STATE,
    OUTBOX_TOTALS,
};
use crate::store::schema::SYNC_STATE;
use crate::store::tx::{commit, read_result};
use crate::store::Store;
use js_sys::Promise;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use synclane_core::change::SyncChange;
use synclane_core::echo::RecentOpCache;
use synclane_core::hlc::{ClockPolicy, HlcStamp, HybridClock};
use synclane_core::outbox::OutboxConfig;
use synclane_core::validate::{validate_remote_batch, RawChange, ValidationContext};
use synclane_core::{ErrorCode, Quoted, SyncError, SyncResult};
use synclane_js::error::to_js_error;
use synclane_js::interop::now_ms;
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

/// The engine's store: a handle a method's future keeps. One borrow for every method (each
/// borrow's call site is a panic location of its own in the wasm).
fn store_of(inner: &RefCell<Inner>) -> Rc<Store> {
    inner.borrow().store.clone()
}

impl EngineCore {
    fn store(&self) -> Rc<Store> {
        store_of(&self.inner)
    }

    /// The store and the outbox settings, for the methods that form batches.
    fn store_and_outbox(&self) -> (Rc<Store>, OutboxConfig) {
        let inner = self.inner.borrow();
        (inner.store.clone(), inner.outbox.clone())
    }

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
