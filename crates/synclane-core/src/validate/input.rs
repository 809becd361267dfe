//! Changes and ops as they arrive, every field optional, and a JSON batch read element by
//! element.

use crate::error::{SyncError, SyncResult};
use serde::Deserialize;

/// A change or op as it arrived, before any check. Every field is optional so a missing field
/// gets synclane's own message instead of a deserializer's.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawChange<P> {
    #[serde(default, alias = "table_name")]
    pub table_name: Option<String>,
    #[serde(default)]
    pub pk: Option<String>,
    #[serde(default)]
    pub op: Option<String>,
    #[serde(default = "Option::default")]
    pub payload: Option<P>,
    #[serde(default, alias = "server_version")]
    pub server_version: Option<u64>,
    #[serde(default)]
    pub stamp: Option<RawStamp>,
}

/// A stamp as it arrived.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawStamp {
    #[serde(default)]
    pub clock: Option<u64>,
    #[serde(default)]
    pub hlc: Option<String>,
    #[serde(default, alias = "device_id")]
    pub device_id: Option<String>,
    #[serde(default, alias = "op_id")]
    pub op_id: Option<String>,
}

/// Deserializes a JSON array of changes element by element, so a type error names its element.
pub fn parse_json_batch(value: &serde_json::Value) -> SyncResult<Vec<RawChange<serde_json::Value>>> {
    let items = value.as_array().ok_or_else(|| {
        SyncError::invalid_change(format!("a batch must be an array, got {}", json_kind(value)))
    })?;
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            if !item.is_object() {
                return Err(SyncError::invalid_change(format!(
                    "change #{index} must be an object, got {}",
                    json_kind(item)
                )));
            }
            RawChange::deserialize(item)
                .map_err(|e| SyncError::invalid_change(format!("change #{index}: {e}")))
        })
        .collect()
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
