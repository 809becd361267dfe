//! Change stamps: the sync metadata every version of a record carries, and the next-clock rule.

use serde::{Deserialize, Serialize};

/// What an op does to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    // Declared in this order so that, on a full stamp tie, a delete sorts above a put
    // (see `conflict::compare_versions`).
    Put,
    Delete,
}

impl OpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Put => "put",
            OpKind::Delete => "delete",
        }
    }

    pub fn parse(name: &str) -> Option<OpKind> {
        match name {
            "put" => Some(OpKind::Put),
            "delete" => Some(OpKind::Delete),
            _ => None,
        }
    }
}

/// The sync metadata of one version of a record.
///
/// `clock` is a per-record counter: every write sets it to one more than the highest clock the
/// writer has seen for that record, so causally later writes always carry a higher clock.
/// `hlc` is the writer's hybrid logical clock, encoded so that string order is time order; it
/// breaks ties between concurrent writes that reached the same clock.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeStamp {
    pub clock: u64,
    pub hlc: String,
    pub device_id: String,
    pub op_id: String,
}

/// The clock a new write of a record gets: one more than the highest clock seen for it
/// (stored record, tombstone, pending op), or 1 for a record never seen.
pub fn next_clock<I: IntoIterator<Item = u64>>(seen: I) -> u64 {
    seen.into_iter().max().map_or(1, |max| max.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_clock_is_one_above_the_highest_seen() {
        assert_eq!(next_clock([]), 1);
        assert_eq!(next_clock([0]), 1);
        assert_eq!(next_clock([3, 7, 5]), 8);
        assert_eq!(next_clock(Some(41)), 42);
        // Saturates instead of wrapping to 0 (which would lose every conflict).
        assert_eq!(next_clock([u64::MAX]), u64::MAX);
    }

    #[test]
    fn stamps_serialize_with_the_protocol_field_names() {
        let stamp = ChangeStamp { clock: 2, hlc: "h".into(), device_id: "d".into(), op_id: "o".into() };
        let json = serde_json::to_value(&stamp).unwrap();
        assert_eq!(json, serde_json::json!({"clock": 2, "hlc": "h", "deviceId": "d", "opId": "o"}));
        assert_eq!(serde_json::to_value(OpKind::Delete).unwrap(), serde_json::json!("delete"));
        assert_eq!(OpKind::parse("put"), Some(OpKind::Put));
        assert_eq!(OpKind::parse("PUT"), None);
    }
}
