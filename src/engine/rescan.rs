//! A rescan through `EngineCore`: begin, stage the snapshot's pages, swap them in or abandon
//! them; and the same plan computed read-only (`planRescan`).

use super::{promise, store_of, EngineCore};
use crate::changes::parse_changes;
use crate::results;
use crate::store::{rescan, staging};
use js_sys::Promise;
use synclane_js::interop::now_ms;
use synclane_js::read::{read_error, Fields};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
impl EngineCore {
    /// Starts (or restarts) a rescan after the cursor expired: the staging is emptied.
    #[wasm_bindgen(js_name = beginRescan)]
    pub fn begin_rescan(&self) -> Promise {
        let store = self.store();
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
            let store = store_of(&inner);
            store.ready().await?;
            let validated = inner.borrow().validate_remote(parse_changes(&changes)?)?;
            let state = staging::stage_page(&store, validated, page).await?;
            Ok(results::staging(&state))
        })
    }

    /// What a rescan would change given the server's full set (`changes`, every page of a
    /// snapshot pull), computed read-only: `{ creations, updates, deletions, keptForRebase,
    /// summary }`. Bad changes are rejected as a rescan page would be.
    #[wasm_bindgen(js_name = planRescan)]
    pub fn plan_rescan(&self, changes: JsValue) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let store = store_of(&inner);
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
        let store = self.store();
        promise(async move {
            store.ready().await?;
            Ok(results::rescan_report(&rescan::complete(&store, now_ms()).await?))
        })
    }

    /// Abandons a rescan; local data is untouched and the cursor is expired again.
    #[wasm_bindgen(js_name = abortRescan)]
    pub fn abort_rescan(&self) -> Promise {
        let store = self.store();
        promise(async move {
            store.ready().await?;
            Ok(results::cursor(&staging::abort_rescan(&store).await?))
        })
    }

    /// Where a rescan's staging stands.
    #[wasm_bindgen(js_name = stagingState)]
    pub fn staging_state(&self) -> Promise {
        let store = self.store();
        promise(async move {
            store.ready().await?;
            Ok(results::staging(&staging::staging_state(&store).await?))
        })
    }
}
