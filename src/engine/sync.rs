//! What the sync loop asks of `EngineCore`: applying pulled pages and a push's winning
//! versions, remembering pushed op ids (echoes), the cursor, taking a batch to push, settling
//! what the push returned, and recovering ops left in flight.

use super::{promise, store_of, EngineCore, Inner};
use crate::changes::parse_changes;
use crate::results;
use crate::store::outbox as idb_outbox;
use crate::store::remote::{apply_remote, PageEnd};
use crate::store::rows::{read_state, CURSOR_STATE};
use crate::store::schema::SYNC_STATE;
use crate::store::settle::{self, Settlement};
use js_sys::{Array, Promise, Reflect};
use std::cell::RefCell;
use std::rc::Rc;
use synclane_core::cursor::CursorState;
use synclane_core::outbox::PushOutcome;
use synclane_core::{ErrorCode, SyncError, SyncResult};
use synclane_js::interop::now_ms;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
impl EngineCore {
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
        let store = self.store();
        promise(async move {
            store.ready().await?;
            let tx = store.transaction(&[SYNC_STATE], false)?;
            let cursor: CursorState = read_state(&tx, CURSOR_STATE).await?.unwrap_or_default();
            Ok(results::cursor(&cursor))
        })
    }

    /// Takes the next due batch of the outbox and marks it in flight: `[{ seq, op }]`.
    #[wasm_bindgen(js_name = takeBatch)]
    pub fn take_batch(&self) -> Promise {
        let (store, config) = self.store_and_outbox();
        promise(async move {
            store.ready().await?;
            Ok(idb_outbox::take_batch(&store, now_ms(), &config).await?.into())
        })
    }

    /// Settles pushed ops: `[{ seq, opId, error?: { code, message, retryAfterMs? } }]`; no
    /// error means the server acknowledged the op. Resolves to `{ removed, retrying, failed,
    /// totals }`.
    pub fn settle(&self, settlements: JsValue) -> Promise {
        let (store, config) = self.store_and_outbox();
        promise(async move {
            store.ready().await?;
            let settlements = parse_settlements(&settlements)?;
            let report =
                settle::settle(&store, settlements, now_ms(), js_sys::Math::random(), &config).await?;
            Ok(results::settled(&report))
        })
    }

    /// Puts in-flight ops back to pending (after a restart or a takeover of the sync loop).
    #[wasm_bindgen(js_name = recoverInFlight)]
    pub fn recover_in_flight(&self) -> Promise {
        let store = self.store();
        promise(async move {
            store.ready().await?;
            Ok(JsValue::from_f64(f64::from(settle::recover_in_flight(&store).await?)))
        })
    }
}

async fn apply_changes(
    inner: Rc<RefCell<Inner>>,
    changes: JsValue,
    page: Option<PageEnd>,
) -> SyncResult<JsValue> {
    let store = store_of(&inner);
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
