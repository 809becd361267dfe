//! Hybrid logical clock on `uhlc`, with an injected physical clock, a fixed-width string encoding
//! that sorts like the timestamps, and a clock-skew policy for merging remote stamps.
//!
//! Encoding: `TTTTTTTTTTTTTTTT-IIIIIIIIIIIIIIII`, 16 lowercase hex digits of the NTP64 time
//! (seconds since the Unix epoch in the high 32 bits, fraction plus uhlc's logical counter in
//! the low 32), a dash, and 16 hex digits of the device's clock id. Fixed width makes string
//! order equal to (time, id) order, which is what the conflict rule compares.

use crate::error::{clip, ErrorCode, Quoted, SyncError, SyncResult};
use std::cell::Cell;
use std::fmt;
use std::time::Duration;
use uhlc::{HLCBuilder, Timestamp, HLC, ID, NTP64};

/// Length of an encoded HLC string.
pub const HLC_STRING_LEN: usize = 33;

/// A source of physical time in Unix milliseconds. Injected so tests and simulations control
/// time (and skew) exactly; the browser passes `Date.now`, the server the system clock.
pub trait PhysicalClock {
    fn now_ms(&self) -> u64;
}

impl<F: Fn() -> u64> PhysicalClock for F {
    fn now_ms(&self) -> u64 {
        self()
    }
}

/// The skew policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockPolicy {
    /// The local clock never moves further than this ahead of its physical time, however far
    /// ahead a remote stamp is. Remote stamps beyond it are still stored and ordered by their
    /// own `hlc`; they only stop pulling this clock forward.
    pub max_drift_ms: u64,
    /// A remote stamp further ahead than this is not trusted at all: the change is rejected
    /// with `clock_skew` (a broken clock or a hostile peer, not a device that is a few minutes off).
    pub reject_future_ms: u64,
}

impl Default for ClockPolicy {
    fn default() -> Self {
        // Phones and laptops drift by seconds to minutes; five minutes of pull keeps local
        // stamps close to wall time, and a day of tolerance accepts any honest device.
        ClockPolicy { max_drift_ms: 5 * 60 * 1000, reject_future_ms: 24 * 60 * 60 * 1000 }
    }
}

/// What merging a remote stamp did to the local clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeOutcome {
    /// The remote stamp was within the drift bound; the local clock is now past it.
    Merged,
    /// The remote stamp was ahead by more than the drift bound: the local clock advanced only
    /// to `now + max_drift`, and the skew is reported so the app can surface it.
    Skewed { ahead_ms: u64 },
}

/// A parsed HLC string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HlcStamp {
    /// NTP64 time, as uhlc stores it.
    pub time: u64,
    /// The device's clock id.
    pub id: u64,
}

impl HlcStamp {
    /// Encodes to the fixed-width, sortable string form.
    pub fn encode(&self) -> String {
        format!("{:016x}-{:016x}", self.time, self.id)
    }

    /// Parses the string form; anything else is an `invalid_change` error, never a panic.
    pub fn parse(text: &str) -> SyncResult<HlcStamp> {
        // Decoded by hand: `u64::from_str_radix` and string slicing bring their error and panic
        // formatting into the browser build, where this runs for every stored stamp.
        let hex = |digits: &[u8]| {
            digits.iter().try_fold(0u64, |value, &digit| {
                let nibble = match digit {
                    b'0'..=b'9' => digit - b'0',
                    b'a'..=b'f' => digit - b'a' + 10,
                    _ => return None,
                };
                Some(value << 4 | u64::from(nibble))
            })
        };
        let bytes = text.as_bytes();
        let halves = match bytes.split_at_checked(16) {
            Some((time, [b'-', id @ ..])) if bytes.len() == HLC_STRING_LEN => hex(time).zip(hex(id)),
            _ => None,
        };
        let Some((time, id)) = halves else {
            return Err(SyncError::invalid_change(format!(
                "hlc {} is not a {HLC_STRING_LEN}-character lowercase hex stamp",
                Quoted(clip(text, 48))
            )));
        };
        Ok(HlcStamp { time, id })
    }

    /// The physical part of the stamp in Unix milliseconds.
    pub fn physical_ms(&self) -> u64 {
        ntp64_to_ms(self.time)
    }

    fn from_timestamp(ts: &Timestamp) -> HlcStamp {
        HlcStamp { time: ts.get_time().as_u64(), id: id_to_u64(ts.get_id()) }
    }
}

impl fmt::Display for HlcStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

/// The clock id of a device: a stable 64-bit hash of its `deviceId`, never zero.
pub fn clock_id_for_device(device_id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(device_id.as_bytes()).max(1)
}

/// Unix milliseconds to the NTP64 time format uhlc uses.
pub fn ms_to_ntp64(ms: u64) -> u64 {
    NTP64::from(Duration::from_millis(ms)).as_u64()
}

/// NTP64 time to Unix milliseconds, rounded to the nearest millisecond (uhlc clears the low
/// bits of the fraction for its counter, so truncating would lose a millisecond).
pub fn ntp64_to_ms(time: u64) -> u64 {
    let secs = time >> 32;
    let frac = time & 0xFFFF_FFFF;
    let frac_ms = (u128::from(frac) * 1000 + (1u128 << 31)) >> 32;
    secs.saturating_mul(1000).saturating_add(frac_ms as u64)
}

thread_local! {
    // uhlc takes its physical clock as a plain `fn() -> NTP64`, not a closure, so a per-instance
    // clock cannot be captured. Each call below stores its own clock's reading here right before
    // calling into uhlc, and `injected_clock` hands that reading over. Calls never interleave:
    // the value is set and consumed within one synchronous call on one thread.
    static INJECTED_NOW: Cell<u64> = const { Cell::new(0) };
}

fn injected_clock() -> NTP64 {
    NTP64(INJECTED_NOW.with(Cell::get))
}

/// A device's hybrid logical clock.
pub struct HybridClock {
    hlc: HLC,
    clock: Box<dyn PhysicalClock>,
    policy: ClockPolicy,
    id: u64,
}

impl fmt::Debug for HybridClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HybridClock").field("id", &self.id).field("policy", &self.policy).finish()
    }
}

impl HybridClock {
    /// A clock for `device_id`, reading physical time from `clock`.
    pub fn new(device_id: &str, clock: Box<dyn PhysicalClock>, policy: ClockPolicy) -> SyncResult<Self> {
        if device_id.is_empty() {
            return Err(SyncError::invalid_argument("deviceId must not be empty"));
        }
        let id = clock_id_for_device(device_id);
        let uhlc_id =
            ID::try_from(u128::from(id)).map_err(|_| SyncError::new(ErrorCode::Internal, "zero clock id"))?;
        let hlc = HLCBuilder::new()
            .with_id(uhlc_id)
            .with_clock(injected_clock)
            .with_max_delta(Duration::from_millis(policy.max_drift_ms))
            .build();
        Ok(HybridClock { hlc, clock, policy, id })
    }

    pub fn policy(&self) -> ClockPolicy {
        self.policy
    }

    /// This device's clock id (the second half of every stamp it makes).
    pub fn id(&self) -> u64 {
        self.id
    }

    fn load_physical_now(&self) -> u64 {
        let now_ms = self.clock.now_ms();
        INJECTED_NOW.with(|cell| cell.set(ms_to_ntp64(now_ms)));
        now_ms
    }

    /// A new stamp, greater than every stamp this clock made or merged before.
    pub fn now(&self) -> HlcStamp {
        self.load_physical_now();
        HlcStamp::from_timestamp(&self.hlc.new_timestamp())
    }

    /// Restores the clock after a restart from the highest stamp it had made or merged, so it
    /// never goes backwards even if the physical clock did.
    pub fn restore(&self, last: HlcStamp) -> MergeOutcome {
        self.merge_parsed(last)
    }

    /// Checks a remote stamp against the rejection bound without touching the clock.
    pub fn check_remote(&self, remote: &str) -> SyncResult<HlcStamp> {
        let stamp = HlcStamp::parse(remote)?;
        let now_ms = self.clock.now_ms();
        let ahead_ms = stamp.physical_ms().saturating_sub(now_ms);
        if ahead_ms > self.policy.reject_future_ms {
            return Err(SyncError::new(
                ErrorCode::ClockSkew,
                format!("stamp {remote} is {ahead_ms} ms ahead of this device's clock, more than the allowed {} ms", self.policy.reject_future_ms),
            ));
        }
        Ok(stamp)
    }

    /// Merges a remote stamp: validated first (malformed or beyond the rejection bound is an
    /// error and changes nothing), then the local clock moves past it, but never further than
    /// `now + max_drift`.
    pub fn merge(&self, remote: &str) -> SyncResult<MergeOutcome> {
        let stamp = self.check_remote(remote)?;
        Ok(self.merge_parsed(stamp))
    }

    fn merge_parsed(&self, stamp: HlcStamp) -> MergeOutcome {
        let now_ms = self.load_physical_now();
        // uhlc compares against its physical time with the counter bits cleared: the bound must
        // be computed from the same value, or a clamped stamp lands a few ticks past uhlc's own
        // bound and is refused, leaving the clock where it was.
        let counter_bits = (1u64 << uhlc::CSIZE) - 1;
        let now = ms_to_ntp64(now_ms) & !counter_bits;
        let bound = now.saturating_add(ms_to_ntp64(self.policy.max_drift_ms));
        let remote_id = ID::try_from(u128::from(stamp.id.max(1))).unwrap_or(*self.hlc.get_id());
        if stamp.time <= bound {
            // Within the drift bound uhlc accepts it and moves past it.
            let _ = self.hlc.update_with_timestamp(&Timestamp::new(NTP64(stamp.time), remote_id));
            return MergeOutcome::Merged;
        }
        // Too far ahead to follow: advance to just below the bound instead. The remote stamp
        // keeps its own hlc, so it still orders deterministically against everything else.
        let clamped = Timestamp::new(NTP64(bound.saturating_sub(1)), remote_id);
        let _ = self.hlc.update_with_timestamp(&clamped);
        MergeOutcome::Skewed { ahead_ms: stamp.physical_ms().saturating_sub(now_ms) }
    }
}

fn id_to_u64(id: &ID) -> u64 {
    let bytes = id.to_le_bytes();
    let mut low = [0u8; 8];
    low.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(low)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
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
}
