//! The app's local data through `EngineCore`: writes (stamped, with their outbox entries, in
//! one transaction) and reads by id, key range or index.

use super::{promise, store_of, EngineCore, RandomIds};
use crate::idb;
use crate::payload::JsPayload;
use crate::results;
use crate::store::records::app_record;
use crate::store::tx::object_store;
use crate::store::write::{write_batch, LocalWrite};
use crate::store::Store;
use js_sys::{Array, Promise, Reflect};
use synclane_core::{ChangeStamp, ErrorCode, OpKind, SyncError, SyncResult};
use synclane_js::interop::now_ms;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
impl EngineCore {
    /// Writes a batch in one transaction: `[{ table, op: 'put', record } | { table, op:
    /// 'delete', id }]`. Resolves to `{ captured: [...], outbox: { count, bytes } }`.
    pub fn write(&self, ops: JsValue) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let store = store_of(&inner);
            store.ready().await?;
            let writes = parse_writes(&store, &ops)?;
            let device_id = inner.borrow().device_id.clone();
            let stamp_inner = inner.clone();
            let mut failure = None;
            let mut ids = RandomIds::new(writes.len());
            let mut stamp = |clock: u64| {
                let op_id = ids.next().unwrap_or_else(|e| {
                    failure = Some(e);
                    String::new()
                });
                ChangeStamp {
                    clock,
                    hlc: stamp_inner.borrow().clock.now().encode(),
                    device_id: device_id.clone(),
                    op_id,
                }
            };
            let outcome = write_batch(&store, writes, &mut stamp, now_ms()).await?;
            if let Some(err) = failure {
                return Err(err);
            }
            let result = js_sys::Object::new();
            Reflect::set(&result, &"captured".into(), &outcome.captured).ok();
            Reflect::set(&result, &"outbox".into(), &results::totals(&outcome.totals)).ok();
            Ok(result.into())
        })
    }

    /// One record by id, or `undefined`.
    pub fn get(&self, table: String, id: String, with_meta: bool) -> Promise {
        let store = self.store();
        promise(async move {
            store.ready().await?;
            store.check_table(&table)?;
            let tx = store.transaction(&[&table], false)?;
            let req = object_store(&tx, &table)?
                .get(&JsValue::from_str(&id))
                .map_err(|e| idb::storage_error("reading a record", &e))?;
            Ok(app_record(idb::request(&req, "reading a record").await?, with_meta))
        })
    }

    /// Records of a table, by key or by index: `{ index?, only?, lower?, upper?, lowerOpen?,
    /// upperOpen?, limit?, withMeta? }`.
    #[wasm_bindgen(js_name = getAll)]
    pub fn get_all(&self, table: String, query: JsValue) -> Promise {
        let store = self.store();
        promise(async move {
            store.ready().await?;
            store.check_table(&table)?;
            let query = crate::query::Query::from_js(query)?;
            let tx = store.transaction(&[&table], false)?;
            let records = crate::query::run(&tx, &table, &query).await?;
            let out = Array::new();
            for record in records.iter() {
                out.push(&app_record(record, query.with_meta));
            }
            Ok(out.into())
        })
    }
}

fn parse_writes(store: &Store, ops: &JsValue) -> SyncResult<Vec<LocalWrite>> {
    if !Array::is_array(ops) {
        return Err(SyncError::invalid_argument("write expects an array of ops"));
    }
    let mut writes = Vec::new();
    for (index, op) in Array::from(ops).iter().enumerate() {
        let field = |name: &str| Reflect::get(&op, &name.into()).unwrap_or(JsValue::UNDEFINED);
        let table = field("table")
            .as_string()
            .ok_or_else(|| SyncError::invalid_argument(format!("op #{index}: table must be a string")))?;
        store.check_table(&table)?;
        let kind = field("op").as_string().and_then(|o| OpKind::parse(&o));
        match kind {
            Some(OpKind::Put) => {
                let record = field("record");
                use synclane_core::change::Payload;
                if !JsPayload(record.clone()).is_object() {
                    return Err(SyncError::new(
                        ErrorCode::InvalidPayload,
                        format!("op #{index}: a record must be an object"),
                    ));
                }
                // The id is kept as the JavaScript string it is too, so the batch's requests
                // and objects use it without decoding it again.
                let pk_js = Reflect::get(&record, &"id".into()).unwrap_or(JsValue::UNDEFINED);
                let pk = pk_js.as_string().filter(|id| !id.is_empty()).ok_or_else(|| {
                    SyncError::new(
                        ErrorCode::InvalidPayload,
                        format!("op #{index}: a record needs a non-empty string id"),
                    )
                })?;
                writes.push(LocalWrite { table, pk, pk_js, op: OpKind::Put, record: Some(record) });
            }
            Some(OpKind::Delete) => {
                let pk_js = field("id");
                let pk = pk_js.as_string().filter(|id| !id.is_empty()).ok_or_else(|| {
                    SyncError::invalid_argument(format!("op #{index}: a delete needs a non-empty string id"))
                })?;
                writes.push(LocalWrite { table, pk, pk_js, op: OpKind::Delete, record: None });
            }
            None => {
                return Err(SyncError::invalid_argument(format!(
                    "op #{index}: op must be \"put\" or \"delete\""
                )))
            }
        }
    }
    Ok(writes)
}
