//! The staging of a rescan: when the cursor expired, the server's full current set is pulled
//! into the staging store page by page, each page checked (contiguous, of one server data set,
//! as many changes as announced) before the swap (`rescan.rs`) reconciles it with local data.
//! Until the swap the old data stays as it was, so an interrupted rescan loses nothing and
//! simply starts again.

use super::rows::{
    read_state, staged_row, write_cursor, write_staging, StagingState, CURSOR_STATE, STAGING_STATE,
};
use super::schema::{STAGING, SYNC_STATE};
use super::tx::{in_tx, object_store};
use super::Store;
use crate::idb;
use crate::payload::JsPayload;
use synclane_core::change::SyncChange;
use synclane_core::cursor::CursorState;
use synclane_core::{SyncError, SyncResult};
use synclane_js::read::{Fields, ReadResult};
use web_sys::IdbTransaction;

/// Starts (or restarts) a rescan: the cursor goes to `rescanning` and the staging is emptied.
pub async fn begin(store: &Store) -> SyncResult<CursorState> {
    let tx = store.transaction(&[SYNC_STATE, STAGING], true)?;
    in_tx!(&tx, "starting a rescan", async {
        let mut cursor: CursorState = read_state(&tx, CURSOR_STATE).await?.unwrap_or_default();
        if cursor.phase == synclane_core::cursor::CursorPhase::Live
            || cursor.phase == synclane_core::cursor::CursorPhase::Bootstrapping
        {
            cursor.expire()?;
        }
        cursor.begin_rescan()?;
        write_cursor(&tx, &cursor)?;
        empty_staging(&tx)?;
        Ok(cursor)
    })
}

/// Where a staged page sits in the snapshot, as its pull answered.
#[derive(Debug, Clone)]
pub struct StagedPage {
    /// Where the page starts: where the previous one ended (0 for the first).
    pub from_cursor: u64,
    pub next_cursor: u64,
    pub has_more: bool,
    pub total: Option<u64>,
    pub retention_floor: u64,
    pub epoch: Option<String>,
}

impl StagedPage {
    pub fn read(f: &Fields) -> ReadResult<StagedPage> {
        Ok(StagedPage {
            from_cursor: f.uint("fromCursor")?,
            next_cursor: f.uint("nextCursor")?,
            has_more: f.flag("hasMore")?,
            total: f.opt_uint("total")?,
            retention_floor: f.opt_uint("retentionFloor")?.unwrap_or(0),
            epoch: f.opt_string("epoch")?,
        })
    }
}

/// Stages one page. Pages must be contiguous: `from_cursor` is where the previous page ended.
pub async fn stage_page(
    store: &Store,
    changes: Vec<SyncChange<JsPayload>>,
    page: StagedPage,
) -> SyncResult<StagingState> {
    let StagedPage { from_cursor, next_cursor, has_more, total, retention_floor, epoch } = page;
    let tx = store.transaction(&[SYNC_STATE, STAGING], true)?;
    in_tx!(&tx, "staging a rescan page", async {
        let mut state: StagingState = read_state(&tx, STAGING_STATE)
            .await?
            .ok_or_else(|| SyncError::invalid_argument("no rescan in progress"))?;
        if state.complete {
            return Err(SyncError::invalid_argument("the staged set is already complete"));
        }
        if from_cursor != state.next_cursor {
            return Err(SyncError::invalid_change(format!(
                "rescan pages are not contiguous: this page starts at {from_cursor}, the last ended at {}",
                state.next_cursor
            )));
        }
        if next_cursor < from_cursor
            || changes.iter().any(|c| c.server_version <= from_cursor || c.server_version > next_cursor)
        {
            return Err(SyncError::invalid_change("a rescan page holds changes outside its cursor range"));
        }
        if state.received == 0 && from_cursor == 0 {
            state.expected_total = total;
            state.retention_floor = retention_floor;
            state.epoch = epoch.clone();
        }
        // The server was replaced between two pages: what is staged describes another data set.
        CursorState::check_epoch(state.epoch.as_deref(), epoch.as_deref())?;
        let staging = object_store(&tx, STAGING)?;
        for change in &changes {
            staging.put(&staged_row(change)).map_err(|e| idb::storage_error("staging a change", &e))?;
        }
        state.received += changes.len() as u64;
        state.next_cursor = next_cursor;
        state.complete = !has_more;
        if state.complete {
            if let Some(expected) = state.expected_total {
                if state.received < expected {
                    return Err(SyncError::invalid_change(format!(
                        "the provider announced {expected} changes but delivered {}",
                        state.received
                    )));
                }
            }
        }
        write_staging(&tx, &state)?;
        Ok(state)
    })
}

/// Abandons a rescan: the staging is dropped, local data stays, the cursor is expired again.
pub async fn abort_rescan(store: &Store) -> SyncResult<CursorState> {
    let tx = store.transaction(&[SYNC_STATE, STAGING], true)?;
    in_tx!(&tx, "abandoning a rescan", async {
        let mut cursor: CursorState = read_state(&tx, CURSOR_STATE).await?.unwrap_or_default();
        if cursor.phase == synclane_core::cursor::CursorPhase::Rescanning {
            cursor.abort_rescan()?;
            write_cursor(&tx, &cursor)?;
        }
        empty_staging(&tx)?;
        Ok(cursor)
    })
}

/// The staging progress (for a resumed sync: where the next page starts, which floor to send).
pub async fn staging_state(store: &Store) -> SyncResult<StagingState> {
    let tx = store.transaction(&[SYNC_STATE], false)?;
    Ok(read_state(&tx, STAGING_STATE).await?.unwrap_or_default())
}

/// Empties the staging: no page staged, its progress back to the start. A rescan begins, ends
/// and is abandoned with it.
pub fn empty_staging(tx: &IdbTransaction) -> SyncResult<()> {
    object_store(tx, STAGING)?.clear().map_err(|e| idb::storage_error("clearing the staging", &e))?;
    write_staging(tx, &StagingState::default())
}
