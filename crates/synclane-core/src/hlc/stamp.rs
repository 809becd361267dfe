//! An HLC stamp and its fixed-width string form, which sorts like the stamps.

use crate::error::{clip, Quoted, SyncError, SyncResult};
use std::fmt;
use std::time::Duration;
use uhlc::NTP64;

/// Length of an encoded HLC string.
pub const HLC_STRING_LEN: usize = 33;

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
