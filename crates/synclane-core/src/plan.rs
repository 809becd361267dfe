//! The reconciliation plan: what a device must create, update and delete locally so that its
//! database matches the server's full current state.
//!
//! A device whose cursor expired can no longer pull changes incrementally; it downloads the
//! server's whole current set (live records plus the tombstones the server still keeps) and
//! calls [`compute_plan`] to compare it with its local set. The same function backs the
//! dry-run `plan()` shown to apps, so the plan is pure data over record metadata only (no
//! payloads), sorted by key so that two runs over the same input print the same plan.
//!
//! # Why the server wins every key without a pending op
//!
//! Every local version of a record that has no pending op either came from the server or was
//! pushed to it and acknowledged. The server already ran the conflict rule against that
//! version, so whatever it holds now is the outcome of that rule (or of a later write). A local
//! tombstone that would beat the remote live record under
//! [`compare_versions`](crate::conflict::compare_versions) is therefore not evidence of a newer
//! local delete: it is a stale view (for example a delete that lost on the server against a
//! concurrent write it never saw locally). So the plan never consults the
//! conflict rule between local and remote; it copies the remote version. Keys with a pending
//! op are the one exception: they are left alone ([`ReconcilePlan::kept_for_rebase`]) and the
//! re-pushed op lets the server apply the conflict rule with full knowledge.
//!
//! # Tombstones
//!
//! - Remote tombstone, local live: a deletion carrying the remote tombstone; applying it stores
//!   that tombstone, so the local clock for the key stays at least the server's.
//! - Remote tombstone, local tombstone with a different version: an update to the remote
//!   tombstone, so local tombstones converge with the server's.
//! - Remote tombstone, local absent: nothing. The device never had the record or already
//!   purged its tombstone; re-importing every server tombstone would undo local garbage
//!   collection for no visible change.
//! - Local live, remote absent: the server deleted the record and purged the tombstone. The
//!   deletion carries the local meta, and applying it removes the record without leaving a
//!   tombstone: there is no server stamp to store, and inventing one would fabricate a version.
//! - Local tombstone, remote absent: nothing; local garbage collection will purge it.
//!
//! [`apply_plan`] follows exactly these rules (a deletion whose meta is a tombstone is stored,
//! one whose meta is live removes the key), which is what makes recomputing the plan after
//! applying it come out empty; [`check_idempotent`] checks that.
//!
//! The plan's data is `model`, its computation `compute`, applying it and the idempotency
//! check `apply`.

mod apply;
mod compute;
mod model;

pub use apply::{apply_plan, check_idempotent};
pub use compute::compute_plan;
pub(crate) use compute::reconcile;
pub use model::{PlanSummary, ReconcilePlan, RecordKey, RecordMeta};

#[cfg(test)]
mod tests;
