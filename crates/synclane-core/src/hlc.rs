//! Hybrid logical clock on `uhlc`, with an injected physical clock, a fixed-width string encoding
//! that sorts like the timestamps, and a clock-skew policy for merging remote stamps.
//!
//! Encoding: `TTTTTTTTTTTTTTTT-IIIIIIIIIIIIIIII`, 16 lowercase hex digits of the NTP64 time
//! (seconds since the Unix epoch in the high 32 bits, fraction plus uhlc's logical counter in
//! the low 32), a dash, and 16 hex digits of the device's clock id. Fixed width makes string
//! order equal to (time, id) order, which is what the conflict rule compares.
//!
//! The stamp and its string form are `stamp`; the clock that issues and merges stamps, with its
//! skew policy, is `clock`.

mod clock;
mod stamp;

pub use clock::{ClockPolicy, HybridClock, MergeOutcome, PhysicalClock};
pub use stamp::{clock_id_for_device, ms_to_ntp64, ntp64_to_ms, HlcStamp, HLC_STRING_LEN};

#[cfg(test)]
mod tests;
