//! Reads by table, index and key range.

use crate::idb;
use crate::payload::JsPayload;
use crate::store::tx::object_store;
use synclane_core::{Quoted, SyncError, SyncResult};
use synclane_js::read::read_options;
use wasm_bindgen::JsValue;
use web_sys::{IdbKeyRange, IdbTransaction};

/// A query of `getAll`.
#[derive(Debug, Default)]
pub struct Query {
    pub index: Option<String>,
    pub only: Option<JsPayload>,
    pub lower: Option<JsPayload>,
    pub upper: Option<JsPayload>,
    pub lower_open: bool,
    pub upper_open: bool,
    pub limit: Option<u32>,
    pub with_meta: bool,
}

impl Query {
    pub fn from_js(value: JsValue) -> SyncResult<Query> {
        read_options(value, "query", |f| {
            f.deny_unknown(&[
                "index",
                "only",
                "lower",
                "upper",
                "lowerOpen",
                "upperOpen",
                "limit",
                "withMeta",
            ])?;
            Ok(Query {
                index: f.opt_string("index")?,
                only: f.get("only").map(JsPayload),
                lower: f.get("lower").map(JsPayload),
                upper: f.get("upper").map(JsPayload),
                lower_open: f.opt_bool("lowerOpen")?.unwrap_or(false),
                upper_open: f.opt_bool("upperOpen")?.unwrap_or(false),
                limit: f.opt_u32("limit")?,
                with_meta: f.opt_bool("withMeta")?.unwrap_or(false),
            })
        })
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
            let index = store.index(name).map_err(|_| {
                SyncError::invalid_argument(format!("table {} has no index {}", Quoted(table), Quoted(name)))
            })?;
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
