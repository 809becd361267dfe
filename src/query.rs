//! Reads by table, index and key range.

use crate::idb;
use crate::interop::from_js_strict;
use crate::payload::JsPayload;
use crate::store::object_store;
use serde::Deserialize;
use synclane_core::{ErrorCode, SyncError, SyncResult};
use wasm_bindgen::JsValue;
use web_sys::{IdbKeyRange, IdbTransaction};

/// A query of `getAll`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Query {
    #[serde(default)]
    pub index: Option<String>,
    #[serde(default)]
    pub only: Option<JsPayload>,
    #[serde(default)]
    pub lower: Option<JsPayload>,
    #[serde(default)]
    pub upper: Option<JsPayload>,
    #[serde(default)]
    pub lower_open: bool,
    #[serde(default)]
    pub upper_open: bool,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub with_meta: bool,
}

impl Query {
    pub fn from_js(value: JsValue) -> SyncResult<Query> {
        if value.is_undefined() || value.is_null() {
            return Ok(Query::default());
        }
        from_js_strict(value, "query", ErrorCode::InvalidArgument)
    }

    fn range(&self) -> SyncResult<Option<IdbKeyRange>> {
        let key = |v: &JsPayload| Ok::<_, SyncError>(v.0.clone());
        let bad = |e: JsValue| {
            SyncError::invalid_argument(format!(
                "invalid key range: {}",
                idb::storage_error("key", &e).message
            ))
        };
        let range = match (&self.only, &self.lower, &self.upper) {
            (Some(only), None, None) => Some(IdbKeyRange::only(&key(only)?).map_err(bad)?),
            (Some(_), _, _) => {
                return Err(SyncError::invalid_argument("`only` cannot be combined with `lower` or `upper`"))
            }
            (None, Some(l), Some(u)) => Some(
                IdbKeyRange::bound_with_lower_open_and_upper_open(
                    &key(l)?,
                    &key(u)?,
                    self.lower_open,
                    self.upper_open,
                )
                .map_err(bad)?,
            ),
            (None, Some(l), None) => {
                Some(IdbKeyRange::lower_bound_with_open(&key(l)?, self.lower_open).map_err(bad)?)
            }
            (None, None, Some(u)) => {
                Some(IdbKeyRange::upper_bound_with_open(&key(u)?, self.upper_open).map_err(bad)?)
            }
            (None, None, None) => None,
        };
        Ok(range)
    }
}

/// Runs a query in a read transaction.
pub async fn run(tx: &IdbTransaction, table: &str, query: &Query) -> SyncResult<js_sys::Array> {
    let store = object_store(tx, table)?;
    let range = query.range()?;
    let range_js: JsValue = range.map(Into::into).unwrap_or(JsValue::UNDEFINED);
    let limit = query.limit.unwrap_or(0);
    let req = match &query.index {
        Some(name) => {
            let index = store
                .index(name)
                .map_err(|_| SyncError::invalid_argument(format!("table {table:?} has no index {name:?}")))?;
            if limit > 0 {
                index.get_all_with_key_and_limit(&range_js, limit)
            } else {
                index.get_all_with_key(&range_js)
            }
        }
        None if limit > 0 => store.get_all_with_key_and_limit(&range_js, limit),
        None => store.get_all_with_key(&range_js),
    }
    .map_err(|e| idb::storage_error("reading records", &e))?;
    Ok(idb::request(&req, "reading records").await?.into())
}
