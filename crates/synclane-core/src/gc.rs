//! Tombstone garbage collection on the client. A tombstone exists so a delete can beat older
//! puts that are still on their way. Once the server has the delete (its server version is at
//! or below our cursor), enough time has passed for stragglers, and no local op for the record
//! waits, the tombstone can go.

use serde::{Deserialize, Serialize};

/// When tombstones may be purged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GcPolicy {
    pub tombstone_retention_ms: u64,
}

impl Default for GcPolicy {
    fn default() -> Self {
        GcPolicy { tombstone_retention_ms: 7 * 24 * 60 * 60 * 1000 }
    }
}

/// What GC needs to know about a tombstone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TombstoneAge {
    /// When the delete happened (the physical part of its hlc), Unix ms.
    pub deleted_at_ms: u64,
    /// The server version the delete was stored at; `None` while it has not reached the server.
    pub server_version: Option<u64>,
    /// A local op for this record is still in the outbox.
    pub has_pending_op: bool,
}

/// Whether a tombstone may be purged now.
pub fn tombstone_collectable(tombstone: &TombstoneAge, cursor: u64, now_ms: u64, policy: &GcPolicy) -> bool {
    let old_enough = now_ms.saturating_sub(tombstone.deleted_at_ms) >= policy.tombstone_retention_ms;
    let covered_by_cursor = tombstone.server_version.is_some_and(|v| v <= cursor);
    old_enough && covered_by_cursor && !tombstone.has_pending_op
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 24 * 60 * 60 * 1000;

    #[test]
    fn needs_age_cursor_coverage_and_no_pending_op() {
        let policy = GcPolicy::default();
        let old = TombstoneAge { deleted_at_ms: 0, server_version: Some(10), has_pending_op: false };
        assert!(tombstone_collectable(&old, 10, 7 * DAY, &policy));
        assert!(!tombstone_collectable(&old, 10, 7 * DAY - 1, &policy), "too young");
        assert!(!tombstone_collectable(&old, 9, 8 * DAY, &policy), "cursor has not passed it");
        let unsent = TombstoneAge { server_version: None, ..old };
        assert!(!tombstone_collectable(&unsent, 100, 30 * DAY, &policy), "never reached the server");
        let pending = TombstoneAge { has_pending_op: true, ..old };
        assert!(!tombstone_collectable(&pending, 100, 30 * DAY, &policy));
        // A clock that went backwards does not make anything collectable.
        let future = TombstoneAge { deleted_at_ms: 10 * DAY, ..old };
        assert!(!tombstone_collectable(&future, 100, DAY, &policy));
    }
}
