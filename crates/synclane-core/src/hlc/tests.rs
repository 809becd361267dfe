//! The clock and its stamps: the string form and its order, monotonicity whatever physical
//! time does, the drift and rejection bounds, restarts.

use super::*;
use crate::error::ErrorCode;
use proptest::prelude::*;
use std::cell::Cell;
use std::rc::Rc;

/// A manually driven physical clock shared between a test and the HybridClock.
#[derive(Clone, Default)]
struct ManualClock(Rc<Cell<u64>>);
impl ManualClock {
    fn at(ms: u64) -> Self {
        ManualClock(Rc::new(Cell::new(ms)))
    }
    fn set(&self, ms: u64) {
        self.0.set(ms)
    }
    fn boxed(&self) -> Box<dyn PhysicalClock> {
        let cell = self.0.clone();
        Box::new(move || cell.get())
    }
}

const T0: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn clock(device: &str, physical: &ManualClock) -> HybridClock {
    HybridClock::new(device, physical.boxed(), ClockPolicy::default()).unwrap()
}

#[test]
fn stamps_are_fixed_width_and_round_trip() {
    let physical = ManualClock::at(T0);
    let hlc = clock("device-a", &physical);
    let stamp = hlc.now();
    let text = stamp.encode();
    assert_eq!(text.len(), HLC_STRING_LEN);
    assert_eq!(HlcStamp::parse(&text).unwrap(), stamp);
    assert_eq!(stamp.id, clock_id_for_device("device-a"));
    // Physical part is the injected time (uhlc keeps sub-millisecond precision).
    assert_eq!(stamp.physical_ms(), T0);
}

#[test]
fn stamps_rise_even_when_physical_time_stands_still_or_goes_back() {
    let physical = ManualClock::at(T0);
    let hlc = clock("d", &physical);
    let a = hlc.now();
    let b = hlc.now();
    physical.set(T0 - 60_000);
    let c = hlc.now();
    assert!(a < b && b < c);
    assert!(a.encode() < b.encode() && b.encode() < c.encode());
    physical.set(T0 + 1);
    let d = hlc.now();
    assert!(d > c);
    assert_eq!(d.physical_ms(), T0 + 1);
}

#[test]
fn malformed_strings_are_errors_not_panics() {
    for bad in [
        "",
        "0",
        "0000000000000000_0000000000000001",
        "000000000000000G-0000000000000001",
        "0000000000000000-000000000000000A",
        "00000000000000000000000000000001x",
        "é000000000000000-000000000000000",
        "0000000000000000-00000000000000011",
    ] {
        let err = HlcStamp::parse(bad).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidChange, "{bad:?}");
    }
}

#[test]
fn merging_a_stamp_within_drift_moves_the_clock_past_it() {
    let physical = ManualClock::at(T0);
    let local = clock("local", &physical);
    let remote_physical = ManualClock::at(T0 + 60_000); // a minute ahead: within 5 min
    let remote = clock("remote", &remote_physical).now();
    assert_eq!(local.merge(&remote.encode()).unwrap(), MergeOutcome::Merged);
    let next = local.now();
    assert!(next > remote, "local stamp after merge must sort after the remote one");
    assert!(next.encode() > remote.encode());
}

#[test]
fn a_stamp_beyond_drift_is_reported_and_the_clock_stops_at_the_bound() {
    let physical = ManualClock::at(T0);
    let local = clock("local", &physical);
    let ten_minutes = 10 * 60 * 1000;
    let remote = clock("remote", &ManualClock::at(T0 + ten_minutes)).now();
    let outcome = local.merge(&remote.encode()).unwrap();
    assert_eq!(outcome, MergeOutcome::Skewed { ahead_ms: ten_minutes });
    let next = local.now();
    // The clock followed the remote stamp up to the bound and not a millisecond further.
    assert_eq!(
        next.physical_ms(),
        T0 + ClockPolicy::default().max_drift_ms,
        "local clock must stop at now + drift"
    );
    // The far-ahead remote stamp still orders deterministically: above the local one.
    assert!(remote.encode() > next.encode());
}

proptest! {
    // Any physical time, not only round ones: the clamp must hold whatever the low bits.
    #[test]
    fn a_skewed_stamp_moves_the_clock_to_the_bound_at_any_time(offset in 0u64..10_000_000, ahead in 300_001u64..86_400_000) {
        let now = T0 + offset;
        let local = clock("local", &ManualClock::at(now));
        let remote = clock("remote", &ManualClock::at(now + ahead)).now();
        let outcome = local.merge(&remote.encode()).unwrap();
        prop_assert_eq!(outcome, MergeOutcome::Skewed { ahead_ms: ahead });
        let next = local.now().physical_ms();
        let bound = now + ClockPolicy::default().max_drift_ms;
        prop_assert!(next + 1 >= bound && next <= bound, "clock at {next}, bound {bound}");
    }
}

#[test]
fn a_stamp_beyond_the_rejection_bound_is_refused_and_changes_nothing() {
    let physical = ManualClock::at(T0);
    let local = clock("local", &physical);
    let before = local.now();
    let remote = clock("remote", &ManualClock::at(T0 + 2 * 24 * 3600 * 1000)).now();
    let err = local.merge(&remote.encode()).unwrap_err();
    assert_eq!(err.code, ErrorCode::ClockSkew);
    let after = local.now();
    assert_eq!(after.physical_ms(), before.physical_ms(), "rejected stamp must not move the clock");
}

#[test]
fn a_device_behind_still_produces_rising_stamps_after_merge() {
    // Device ten minutes behind receives a current stamp: it follows within the drift
    // bound from its own point of view, is reported as skewed, and keeps rising.
    let behind = ManualClock::at(T0 - 10 * 60 * 1000);
    let local = clock("behind", &behind);
    let remote = clock("now", &ManualClock::at(T0)).now();
    assert!(matches!(local.merge(&remote.encode()).unwrap(), MergeOutcome::Skewed { .. }));
    let a = local.now();
    let b = local.now();
    assert!(a < b);
}

#[test]
fn restore_never_lets_a_restarted_clock_go_backwards() {
    let physical = ManualClock::at(T0);
    let first = clock("d", &physical);
    let last = first.now();
    physical.set(T0 - 1000);
    let restarted = clock("d", &physical);
    restarted.restore(last);
    assert!(restarted.now() > last);
}

#[test]
fn empty_device_id_is_refused() {
    let err = HybridClock::new("", ManualClock::at(0).boxed(), ClockPolicy::default()).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
}

proptest! {
    #[test]
    fn encoding_sorts_like_the_stamps(a_time: u64, a_id in 1u64.., b_time: u64, b_id in 1u64..) {
        let a = HlcStamp { time: a_time, id: a_id };
        let b = HlcStamp { time: b_time, id: b_id };
        prop_assert_eq!(a.cmp(&b), a.encode().cmp(&b.encode()));
        prop_assert_eq!(HlcStamp::parse(&a.encode()).unwrap(), a);
    }

    #[test]
    fn parse_never_panics(text in ".{0,40}") {
        let _ = HlcStamp::parse(&text);
    }

    #[test]
    fn a_clock_is_strictly_monotonic_under_any_physical_jitter(steps in proptest::collection::vec(-5_000i64..5_000, 1..60)) {
        let physical = ManualClock::at(T0);
        let hlc = clock("p", &physical);
        let mut last = hlc.now();
        let mut t = T0 as i64;
        for step in steps {
            t += step;
            physical.set(t as u64);
            let next = hlc.now();
            prop_assert!(next > last);
            prop_assert!(next.encode() > last.encode());
            last = next;
        }
    }
}
