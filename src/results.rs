//! What the engine's module hands to JavaScript, built field by field with
//! `synclane_js::write` (for the same reason the module reads without serde: see
//! `synclane_js::read`). The shapes are the ones the TypeScript types declare; optional fields
//! are left out when empty, except where the type says `null`.
//!
//! This is the one module that turns the store's reports into results; the store never imports
//! it. Where a result has the form of a row the store keeps (the cursor, the outbox totals, the
//! staging progress, a stamp, an error), it is built by the store's own builder in
//! `store::rows`, so each shape is written once.

use crate::store::inspect::Inspection;
use crate::store::outbox::PushPreview;
use crate::store::records::StoredEntry;
use crate::store::remote::ApplyReport;
use crate::store::rescan::RescanReport;
use crate::store::rows::{error, stamp};
use crate::store::settle::SettleReport;
use synclane_core::plan::{PlanSummary, ReconcilePlan, RecordKey, RecordMeta};
use synclane_core::policy::SyncDecision;
use synclane_core::status::SyncStatus;
use synclane_js::write::{list, strings, Out};
use wasm_bindgen::JsValue;

/// `{ phase, cursor }`, `{ count, bytes, failed, inFlight }` and `{ nextCursor, received,
/// expectedTotal: number | null, retentionFloor, complete, epoch? }`: as the store keeps them.
pub use crate::store::rows::{cursor, staging, totals};

/// An outbox entry without its payload, as tools list it.
pub fn entry(e: &StoredEntry) -> JsValue {
    let out = Out::new()
        .opt_num("seq", e.seq)
        .text("opId", &e.op_id)
        .text("tableName", &e.table_name)
        .text("pk", &e.pk)
        .text("op", e.op.as_str())
        .set("stamp", &stamp(&e.stamp))
        .text("state", e.state.as_str())
        .num("attempts", u64::from(e.attempts))
        .num("nextAttemptAt", e.next_attempt_at)
        .num("byteSize", e.byte_size)
        .num("createdAt", e.created_at);
    match &e.last_error {
        Some(err) => out.set("lastError", &error(err)),
        None => out,
    }
    .into_js()
}

/// `{ removed, retrying: [[opId, nextAttemptAt], ...], failed, totals }`.
pub fn settled(r: &SettleReport) -> JsValue {
    Out::new()
        .set("removed", &strings(&r.removed))
        .set(
            "retrying",
            &list(&r.retrying, |(op_id, at)| {
                list([JsValue::from_str(op_id), JsValue::from_f64(*at as f64)], |v| v)
            }),
        )
        .set("failed", &strings(&r.failed))
        .set("totals", &totals(&r.totals))
        .into_js()
}

/// `{ batches, ops, bytes, waiting, failed, inFlight }`.
pub fn preview(p: &PushPreview) -> JsValue {
    let entries = |list_of: &Vec<StoredEntry>| list(list_of, entry);
    Out::new()
        .set("batches", &list(&p.batches, entries))
        .num("ops", p.ops as u64)
        .num("bytes", p.bytes)
        .set("waiting", &entries(&p.waiting))
        .set("failed", &entries(&p.failed))
        .set("inFlight", &entries(&p.in_flight))
        .into_js()
}

fn record_key(k: &RecordKey) -> JsValue {
    Out::new().text("table", &k.table).text("pk", &k.pk).into_js()
}

fn record_meta(m: &RecordMeta) -> JsValue {
    Out::new()
        .set("key", &record_key(&m.key))
        .set("stamp", &stamp(&m.stamp))
        .flag("deleted", m.deleted)
        .into_js()
}

/// `{ creations, updates, deletions, keptForRebase }` (counts).
pub fn plan_summary(s: &PlanSummary) -> JsValue {
    Out::new()
        .num("creations", s.creations as u64)
        .num("updates", s.updates as u64)
        .num("deletions", s.deletions as u64)
        .num("keptForRebase", s.kept_for_rebase as u64)
        .into_js()
}

/// The plan's lists with its summary: `{ creations, updates, deletions, keptForRebase,
/// summary }`.
pub fn plan(p: &ReconcilePlan) -> JsValue {
    Out::new()
        .set("creations", &list(&p.creations, record_meta))
        .set("updates", &list(&p.updates, record_meta))
        .set("deletions", &list(&p.deletions, record_meta))
        .set("keptForRebase", &list(&p.kept_for_rebase, record_key))
        .set("summary", &plan_summary(&p.summary()))
        .into_js()
}

/// `{ summary, cursor, changed: [[table, pk], ...] }`.
pub fn rescan_report(r: &RescanReport) -> JsValue {
    let out = Out::new()
        .set("summary", &plan_summary(&r.summary))
        .set("cursor", &cursor(&r.cursor))
        .set("changed", &list(&r.changed, |(t, pk)| list([t, pk], |s| JsValue::from_str(s))));
    match &r.reset {
        Some(reset) => out.set(
            "reset",
            &Out::new()
                .num("previousCursor", reset.previous_cursor)
                .num("republishedRecords", reset.republished_records)
                .num("republishedTombstones", reset.republished_tombstones)
                .into_js(),
        ),
        None => out,
    }
    .into_js()
}

/// `{ applied, conflicts, echoes, identical, stale, cursor, cursorMoved }`; `applied` and
/// `conflicts` are the JavaScript arrays the apply built.
pub fn applied(r: &ApplyReport) -> Out {
    Out::new()
        .set("applied", &r.applied)
        .set("conflicts", &r.conflicts)
        .num("echoes", u64::from(r.echoes))
        .num("identical", u64::from(r.identical))
        .num("stale", u64::from(r.stale))
        .set("cursor", &cursor(&r.cursor))
        .flag("cursorMoved", r.cursor_moved)
}

/// `{ outbox: { entries, totals }, tombstones, conflicts: { entries, total }, cursor }`.
pub fn inspection(i: &Inspection) -> JsValue {
    Out::new()
        .set("outbox", &Out::new().set("entries", &i.entries).set("totals", &i.totals).into_js())
        .set("tombstones", &i.tombstones)
        .set("conflicts", &Out::new().set("entries", &i.conflicts).set("total", &i.conflict_total).into_js())
        .set("cursor", &i.cursor)
        .into_js()
}

/// `{ action, reason, cooldownMs?, blockedUntilMs? }`.
pub fn decision(d: &SyncDecision) -> JsValue {
    Out::new()
        .text("action", d.action.as_str())
        .text("reason", d.reason.as_str())
        .opt_num("cooldownMs", d.cooldown_ms)
        .opt_num("blockedUntilMs", d.blocked_until_ms)
        .into_js()
}

/// The status view-model.
pub fn status(s: &SyncStatus) -> JsValue {
    let mut out = Out::new()
        .text("state", s.state.as_str())
        .flag("canSyncNow", s.can_sync_now)
        .opt_num("cooldownMs", s.cooldown_ms)
        .opt_num("blockedUntil", s.blocked_until);
    if let Some(p) = &s.progress {
        out = out.set("progress", &Out::new().num("current", p.current).num("total", p.total).into_js());
    }
    out = out.opt_num("lastSyncedAt", s.last_synced_at);
    if let Some(e) = &s.last_sync_error {
        out = out.set(
            "lastSyncError",
            &Out::new().text("code", e.code.as_str()).text("message", &e.message).into_js(),
        );
    }
    out.num("pendingOps", s.pending_ops).num("failedOps", s.failed_ops).flag("online", s.online).into_js()
}
