//! Local tombstone garbage collection, by the core's eligibility rule.

use super::records::{from_stored, Tombstone};
use super::rows::{read_state, record_key, CURSOR_STATE};
use super::schema::{BY_RECORD, PENDING_OPS, SYNC_STATE, TOMBSTONES};
use super::tx::{in_tx, object_store};
use super::Store;
use crate::idb;
use js_sys::Array;
use synclane_core::cursor::CursorState;
use synclane_core::gc::{tombstone_collectable, GcPolicy, TombstoneAge};
use synclane_core::hlc::HlcStamp;
use synclane_core::SyncResult;

/// Purges collectable tombstones in one transaction; returns how many.
pub async fn collect(store: &Store, retention_ms: u64, now_ms: u64) -> SyncResult<usize> {
    let tx = store.transaction(&[TOMBSTONES, PENDING_OPS, SYNC_STATE], true)?;
    let work = async {
        let cursor: CursorState = read_state(&tx, CURSOR_STATE).await?.unwrap_or_default();
        let tombstones = object_store(&tx, TOMBSTONES)?;
        let by_record = object_store(&tx, PENDING_OPS)?
            .index(BY_RECORD)
            .map_err(|e| idb::storage_error("opening the outbox index", &e))?;
        let req = tombstones.get_all().map_err(|e| idb::storage_error("reading tombstones", &e))?;
        let all = Array::from(&idb::request(&req, "reading tombstones").await?);
        let policy = GcPolicy { tombstone_retention_ms: retention_ms };
        let mut purged = 0;
        for value in all.iter() {
            let t: Tombstone = from_stored(value, "tombstone")?;
            let key = record_key(&t.table_name, &t.pk);
            let count_req =
                by_record.count_with_key(&key).map_err(|e| idb::storage_error("reading the outbox", &e))?;
            let pending = idb::request(&count_req, "reading the outbox").await?.as_f64().unwrap_or(0.0) > 0.0;
            let deleted_at_ms = HlcStamp::parse(&t.meta.hlc).map(|s| s.physical_ms()).unwrap_or(t.deleted_at);
            let age = TombstoneAge {
                deleted_at_ms,
                server_version: t.meta.server_version,
                has_pending_op: pending,
            };
            if tombstone_collectable(&age, cursor.cursor, now_ms, &policy) {
                tombstones.delete(&key).map_err(|e| idb::storage_error("purging a tombstone", &e))?;
                purged += 1;
            }
        }
        Ok(purged)
    };
    in_tx!(&tx, "collecting garbage", work)
}
