//! What the client does with one incoming remote change, given what it holds for that record.
//! The IndexedDB layer and the simulations both ask this function, then write what it says.

use crate::conflict::{compare_versions, VersionRef};
use std::cmp::Ordering;

/// The fate of one remote change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteDecision {
    /// Our own push coming back: the local database already holds it or something newer.
    /// Not applied, and no change event fires.
    Echo,
    /// Exactly the version already stored: nothing to do (a duplicate delivery).
    Identical,
    /// Newer than what is stored and no local op waits: store it.
    Apply,
    /// Newer than a local op still waiting in the outbox: store it; the local op lost. A
    /// conflict is recorded with the remote change as winner.
    ApplyOverPending,
    /// Older than what is stored: keep the local version. A conflict is recorded with the
    /// local version as winner.
    KeepLocal,
}

impl RemoteDecision {
    /// Whether the remote change is written to the local table.
    pub fn writes(self) -> bool {
        matches!(self, RemoteDecision::Apply | RemoteDecision::ApplyOverPending)
    }

    /// Whether this is a conflict the app should hear about.
    pub fn is_conflict(self) -> bool {
        matches!(self, RemoteDecision::ApplyOverPending | RemoteDecision::KeepLocal)
    }
}

/// Decides the fate of a remote change. `local` is the stored version (record or tombstone),
/// `local_pending` whether an unacknowledged local op exists for the record, `is_echo`
/// whether the change's op id is one this device pushed recently.
pub fn decide_remote(
    local: Option<VersionRef<'_>>,
    local_pending: bool,
    incoming: VersionRef<'_>,
    is_echo: bool,
) -> RemoteDecision {
    let Some(local) = local else {
        // Even our own op: the store no longer holds anything of the record (its tombstone
        // was collected), so the op is newer than what it has.
        return RemoteDecision::Apply;
    };
    match compare_versions(incoming, local) {
        // Our own push coming back, with the store holding it or something newer. An own op
        // newer than the store happens only once the device forgot the record (a collected
        // tombstone, then a new write whose clock restarted) and a reset server got the op
        // back from another device: then it is applied like anyone's.
        _ if is_echo && compare_versions(incoming, local) != Ordering::Greater => RemoteDecision::Echo,
        Ordering::Equal => RemoteDecision::Identical,
        Ordering::Greater if local_pending => RemoteDecision::ApplyOverPending,
        Ordering::Greater => RemoteDecision::Apply,
        Ordering::Less => RemoteDecision::KeepLocal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stamp::{ChangeStamp, OpKind};

    fn stamp(clock: u64, op_id: &str) -> ChangeStamp {
        ChangeStamp {
            clock,
            hlc: format!("{clock:016x}-0000000000000001"),
            device_id: "d".into(),
            op_id: op_id.into(),
        }
    }

    #[test]
    fn decisions() {
        let old = stamp(1, "a");
        let new = stamp(2, "b");
        let v = |s, op| VersionRef::new(s, op);
        assert_eq!(decide_remote(None, false, v(&old, OpKind::Put), false), RemoteDecision::Apply);
        assert_eq!(
            decide_remote(Some(v(&old, OpKind::Put)), false, v(&new, OpKind::Put), false),
            RemoteDecision::Apply
        );
        assert_eq!(
            decide_remote(Some(v(&old, OpKind::Put)), true, v(&new, OpKind::Delete), false),
            RemoteDecision::ApplyOverPending
        );
        assert_eq!(
            decide_remote(Some(v(&new, OpKind::Put)), true, v(&old, OpKind::Put), false),
            RemoteDecision::KeepLocal
        );
        assert_eq!(
            decide_remote(Some(v(&new, OpKind::Delete)), false, v(&old, OpKind::Put), false),
            RemoteDecision::KeepLocal
        );
        assert_eq!(
            decide_remote(Some(v(&new, OpKind::Put)), false, v(&new, OpKind::Put), false),
            RemoteDecision::Identical
        );
        // Our own op: silent while the store holds it or something newer...
        assert_eq!(
            decide_remote(Some(v(&new, OpKind::Put)), false, v(&new, OpKind::Put), true),
            RemoteDecision::Echo
        );
        assert_eq!(
            decide_remote(Some(v(&new, OpKind::Put)), true, v(&old, OpKind::Delete), true),
            RemoteDecision::Echo
        );
        // ...and applied when the store forgot it and holds an older version, or nothing.
        assert_eq!(
            decide_remote(Some(v(&old, OpKind::Put)), false, v(&new, OpKind::Delete), true),
            RemoteDecision::Apply
        );
        assert_eq!(decide_remote(None, false, v(&new, OpKind::Delete), true), RemoteDecision::Apply);
        assert!(RemoteDecision::ApplyOverPending.writes() && RemoteDecision::ApplyOverPending.is_conflict());
        assert!(!RemoteDecision::KeepLocal.writes() && RemoteDecision::KeepLocal.is_conflict());
        assert!(!RemoteDecision::Echo.writes() && !RemoteDecision::Identical.is_conflict());
    }
}
