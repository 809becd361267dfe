//! The conflict rule. One function decides which of two versions of a record wins; the client,
//! the in-memory reference server and the real server all call it, so every replica that saw
//! the same versions holds the same state.

use crate::stamp::{ChangeStamp, OpKind};
use std::cmp::Ordering;

/// A version of a record as the conflict rule sees it: its stamp and whether it is a tombstone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRef<'a> {
    pub stamp: &'a ChangeStamp,
    pub op: OpKind,
}

impl<'a> VersionRef<'a> {
    pub fn new(stamp: &'a ChangeStamp, op: OpKind) -> Self {
        VersionRef { stamp, op }
    }
}

/// Orders two versions of the same record; the greater one wins.
///
/// Higher `clock` wins; on equal clocks the higher `hlc` string wins. The remaining keys never
/// decide between honest writers (an `hlc` embeds its device), but they make the order total
/// for any input, so replicas fed odd stamps by a buggy provider still agree:
/// then `deviceId`, then `opId`, then a delete above a put.
pub fn compare_versions(a: VersionRef<'_>, b: VersionRef<'_>) -> Ordering {
    a.stamp
        .clock
        .cmp(&b.stamp.clock)
        .then_with(|| a.stamp.hlc.cmp(&b.stamp.hlc))
        .then_with(|| a.stamp.device_id.cmp(&b.stamp.device_id))
        .then_with(|| a.stamp.op_id.cmp(&b.stamp.op_id))
        .then_with(|| a.op.cmp(&b.op))
}

/// Whether `incoming` should replace `current`. Identical versions do not replace each other,
/// which makes applying the same change twice a no-op.
pub fn incoming_wins(incoming: VersionRef<'_>, current: Option<VersionRef<'_>>) -> bool {
    match current {
        None => true,
        Some(current) => compare_versions(incoming, current) == Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OpKind::{Delete, Put};

    fn stamp(clock: u64, hlc: &str, device: &str, op_id: &str) -> ChangeStamp {
        ChangeStamp { clock, hlc: hlc.into(), device_id: device.into(), op_id: op_id.into() }
    }

    fn wins(a: (&ChangeStamp, OpKind), b: (&ChangeStamp, OpKind)) -> bool {
        incoming_wins(VersionRef::new(a.0, a.1), Some(VersionRef::new(b.0, b.1)))
    }

    #[test]
    fn case_matrix() {
        let older = stamp(1, "0000000000000010-aaaa", "A", "a1");
        let newer = stamp(2, "0000000000000005-bbbb", "B", "b1");
        let same_clock_later_hlc = stamp(2, "0000000000000009-aaaa", "A", "a2");

        // put / put: higher clock wins even with an older hlc.
        assert!(wins((&newer, Put), (&older, Put)));
        assert!(!wins((&older, Put), (&newer, Put)));
        // put / delete: a delete with a higher clock beats the put (tombstone).
        assert!(wins((&newer, Delete), (&older, Put)));
        assert!(!wins((&older, Put), (&newer, Delete)));
        // delete / put: a put with a higher clock re-creates the record.
        assert!(wins((&newer, Put), (&older, Delete)));
        assert!(!wins((&older, Delete), (&newer, Put)));
        // equal clocks: the higher hlc string wins, whatever the op.
        assert!(wins((&same_clock_later_hlc, Put), (&newer, Put)));
        assert!(wins((&same_clock_later_hlc, Delete), (&newer, Put)));
        assert!(wins((&same_clock_later_hlc, Put), (&newer, Delete)));
        assert!(!wins((&newer, Delete), (&same_clock_later_hlc, Put)));
        // equal clock and hlc from different devices: the device id decides, both ways.
        let from_a = stamp(3, "0000000000000020-cccc", "A", "x");
        let from_b = stamp(3, "0000000000000020-cccc", "B", "x");
        assert!(wins((&from_b, Put), (&from_a, Put)));
        assert!(!wins((&from_a, Put), (&from_b, Put)));
        // identical versions: neither replaces the other (idempotent apply).
        assert!(!wins((&from_a, Put), (&from_a, Put)));
        assert!(!wins((&from_a, Delete), (&from_a, Delete)));
        // identical stamps with different ops (a buggy provider): still a total order.
        assert!(wins((&from_a, Delete), (&from_a, Put)));
        assert!(!wins((&from_a, Put), (&from_a, Delete)));
        // nothing stored yet: anything wins.
        assert!(incoming_wins(VersionRef::new(&older, Delete), None));
    }

    #[test]
    fn order_is_antisymmetric_and_total() {
        let stamps = [
            stamp(1, "a", "A", "1"),
            stamp(1, "b", "A", "2"),
            stamp(2, "a", "B", "3"),
            stamp(2, "a", "A", "3"),
            stamp(2, "a", "A", "4"),
        ];
        for a in &stamps {
            for b in &stamps {
                for (oa, ob) in [(Put, Put), (Put, Delete), (Delete, Put), (Delete, Delete)] {
                    let ab = compare_versions(VersionRef::new(a, oa), VersionRef::new(b, ob));
                    let ba = compare_versions(VersionRef::new(b, ob), VersionRef::new(a, oa));
                    assert_eq!(ab, ba.reverse());
                    if ab == Ordering::Equal {
                        assert!(a == b && oa == ob);
                    }
                }
            }
        }
    }
}
