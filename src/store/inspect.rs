//! A read-only view of the engine's internals for tools (the devtools panel): the head of the
//! outbox, its totals, the tombstone count, the latest conflicts and the cursor, in one
//! transaction. Sizes are bounded so a tool stays fast whatever the outbox holds.

use super::rows::{self, parse_state, read_state_request, totals_from_row, CURSOR_STATE, OUTBOX_TOTALS};
use super::schema::{CONFLICTS, PENDING_OPS, SYNC_STATE, TOMBSTONES};
use super::tx::object_store;
use super::Store;
use crate::idb;
use js_sys::Reflect;
use synclane_core::cursor::CursorState;
use synclane_core::SyncResult;
use synclane_js::read::read_options;
use wasm_bindgen::JsValue;
use web_sys::{IdbCursorDirection, IdbKeyRange};

/// How much to read.
#[derive(Debug, Clone, Copy)]
pub struct InspectOptions {
    /// Outbox entries to return, from the head of the queue.
    pub outbox_limit: u32,
    /// Latest conflicts to return.
    pub conflict_limit: u32,
}

impl Default for InspectOptions {
    fn default() -> Self {
        InspectOptions { outbox_limit: 500, conflict_limit: 100 }
    }
}

impl InspectOptions {
    /// `{ outboxLimit?, conflictLimit? }`; `undefined` or `null` for the defaults.
    pub fn from_js(value: JsValue) -> SyncResult<InspectOptions> {
        read_options(value, "inspect options", |f| {
            f.deny_unknown(&["outboxLimit", "conflictLimit"])?;
            let defaults = InspectOptions::default();
            Ok(InspectOptions {
                outbox_limit: f.opt_u32("outboxLimit")?.unwrap_or(defaults.outbox_limit),
                conflict_limit: f.opt_u32("conflictLimit")?.unwrap_or(defaults.conflict_limit),
            })
        })
    }
}

/// What the store holds, as tools see it: stored objects and rows in their stored form, already
/// JavaScript values (a report of Rust values, moved through the futures, cost the wasm some
/// 200 bytes gzipped). `crate::results::inspection` assembles them.
pub struct Inspection {
    /// The head of the outbox, in queue order (payloads included).
    pub entries: JsValue,
    /// The outbox totals row's counts (`rows::totals`).
    pub totals: JsValue,
    /// How many tombstones the store holds.
    pub tombstones: JsValue,
    /// The latest conflicts logged, oldest first.
    pub conflicts: JsValue,
    /// How many conflicts the log holds.
    pub conflict_total: JsValue,
    /// The cursor row (`rows::cursor`).
    pub cursor: JsValue,
}

/// Reads the [`Inspection`] in one read-only transaction.
pub async fn inspect(store: &Store, options: InspectOptions) -> SyncResult<Inspection> {
    let tx = store.transaction(&[PENDING_OPS, SYNC_STATE, TOMBSTONES, CONFLICTS], false)?;
    let err = |what: &'static str| move |e: JsValue| idb::storage_error(what, &e);
    let totals_req = read_state_request(&tx, OUTBOX_TOTALS)?;
    let cursor_req = read_state_request(&tx, CURSOR_STATE)?;
    // IndexedDB reads a count of 0 as "no limit": a limit of 0 reads nothing instead.
    let entries_req = match options.outbox_limit {
        0 => None,
        limit => Some(
            object_store(&tx, PENDING_OPS)?
                .get_all_with_key_and_limit(&JsValue::NULL, limit)
                .map_err(err("reading the outbox"))?,
        ),
    };
    let tombstones_req = object_store(&tx, TOMBSTONES)?.count().map_err(err("counting tombstones"))?;
    let conflicts = object_store(&tx, CONFLICTS)?;
    let conflicts_count_req = conflicts.count().map_err(err("counting conflicts"))?;
    // The newest conflict's key, to read the last `conflict_limit` from it.
    let last_req = conflicts
        .open_key_cursor_with_range_and_direction(&JsValue::NULL, IdbCursorDirection::Prev)
        .map_err(err("reading conflicts"))?;

    let totals = totals_from_row(idb::request(&totals_req, "reading sync state").await?)?;
    let cursor: CursorState =
        parse_state(idb::request(&cursor_req, "reading sync state").await?, CURSOR_STATE)?
            .unwrap_or_default();
    let entries = match &entries_req {
        Some(req) => idb::request(req, "reading the outbox").await?,
        None => js_sys::Array::new().into(),
    };
    let tombstones = idb::request(&tombstones_req, "counting tombstones").await?;
    let conflict_total = idb::request(&conflicts_count_req, "counting conflicts").await?;
    let last_cursor = idb::request(&last_req, "reading conflicts").await?;
    let recent = if last_cursor.is_null() || last_cursor.is_undefined() || options.conflict_limit == 0 {
        js_sys::Array::new().into()
    } else {
        let last = Reflect::get(&last_cursor, &"key".into()).ok().and_then(|k| k.as_f64()).unwrap_or(0.0);
        let from = (last - f64::from(options.conflict_limit) + 1.0).max(0.0);
        let range = IdbKeyRange::lower_bound(&JsValue::from_f64(from)).map_err(err("reading conflicts"))?;
        let req = conflicts.get_all_with_key(&range).map_err(err("reading conflicts"))?;
        idb::request(&req, "reading conflicts").await?
    };

    Ok(Inspection {
        entries,
        totals: rows::totals(&totals),
        tombstones,
        conflicts: recent,
        conflict_total,
        cursor: rows::cursor(&cursor),
    })
}
