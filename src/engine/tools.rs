//! What tools and the app's `plan()` ask of `EngineCore`: the outbox and a bounded inspection
//! for the devtools, retry and discard of failed ops, the push preview, and garbage collection.

use super::{promise, EngineCore};
use crate::idb;
use crate::results;
use crate::store::outbox as idb_outbox;
use crate::store::records::{from_stored, StoredEntry};
use crate::store::rows::read_totals;
use crate::store::schema::{PENDING_OPS, SYNC_STATE};
use crate::store::settle::{self, FailedOpAction};
use crate::store::tx::object_store;
use js_sys::{Array, Promise, Reflect};
use synclane_js::interop::now_ms;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
impl EngineCore {
    /// The outbox, in queue order, for tools: entries with state, attempts, next retry, size
    /// and last error (payloads included).
    pub fn outbox(&self) -> Promise {
        let store = self.store();
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
        let store = self.store();
        promise(async move {
            let options = crate::store::inspect::InspectOptions::from_js(options)?;
            store.ready().await?;
            Ok(results::inspection(&crate::store::inspect::inspect(&store, options).await?))
        })
    }

    /// Makes a failed op pending again, now.
    #[wasm_bindgen(js_name = retryOp)]
    pub fn retry_op(&self, op_id: String) -> Promise {
        self.resolve_failed(op_id, FailedOpAction::Retry)
    }

    /// Removes a failed op from the outbox; resolves to the discarded entry.
    #[wasm_bindgen(js_name = discardOp)]
    pub fn discard_op(&self, op_id: String) -> Promise {
        self.resolve_failed(op_id, FailedOpAction::Discard)
    }

    /// What the next sync would push, marking nothing: `{ batches, ops, bytes, waiting,
    /// failed, inFlight }`.
    #[wasm_bindgen(js_name = previewPush)]
    pub fn preview_push(&self) -> Promise {
        let (store, config) = self.store_and_outbox();
        promise(async move {
            store.ready().await?;
            Ok(results::preview(&idb_outbox::preview(&store, now_ms(), &config).await?))
        })
    }

    /// Purges tombstones that are old enough, covered by the cursor and have no pending op.
    /// Resolves to how many were purged.
    #[wasm_bindgen(js_name = collectGarbage)]
    pub fn collect_garbage(&self, retention_ms: f64) -> Promise {
        let store = self.store();
        promise(async move {
            let retention = synclane_js::interop::version_arg(retention_ms, "retentionMs")?;
            store.ready().await?;
            let purged = crate::store::gc::collect(&store, retention, now_ms()).await?;
            Ok(JsValue::from_f64(purged as f64))
        })
    }
}

impl EngineCore {
    /// Retries or discards a failed op, as the app chose; resolves to the entry.
    fn resolve_failed(&self, op_id: String, action: FailedOpAction) -> Promise {
        let store = self.store();
        promise(async move {
            store.ready().await?;
            settle::resolve_failed(&store, &op_id, action, now_ms()).await
        })
    }
}
