//! A device's hybrid logical clock on `uhlc`, with an injected physical clock and the skew
//! policy for merging remote stamps.

use super::stamp::{clock_id_for_device, ms_to_ntp64, HlcStamp};
use crate::error::{ErrorCode, SyncError, SyncResult};
use std::cell::Cell;
use std::fmt;
use std::time::Duration;
use uhlc::{HLCBuilder, Timestamp, HLC, ID, NTP64};

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

impl HlcStamp {
    fn from_timestamp(ts: &Timestamp) -> HlcStamp {
        HlcStamp { time: ts.get_time().as_u64(), id: id_to_u64(ts.get_id()) }
    }
}
