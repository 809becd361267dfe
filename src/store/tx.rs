//! Transactions of the store: opening their stores, committing or aborting them, and reading
//! the results of requests a batch issued together.

use crate::idb;
use synclane_core::{SyncError, SyncResult};
use wasm_bindgen::JsValue;
use web_sys::{IdbObjectStore, IdbTransaction};

/// Gets an object store of a transaction.
pub fn object_store(tx: &IdbTransaction, name: &str) -> SyncResult<IdbObjectStore> {
    tx.object_store(name).map_err(|e| idb::storage_error(&format!("opening store {name}"), &e))
}

/// The result of a read of a group that is done (see [`idb::group_done`]), or `undefined` for a
/// read that was not needed (its store is empty). Read directly: requests finish in order, and
/// one that failed would have aborted the transaction, which the group's last read reports.
pub fn read_result(req: Option<web_sys::IdbRequest>, context: &'static str) -> SyncResult<JsValue> {
    match req {
        Some(req) => req.result().map_err(|e| idb::storage_error(context, &e)),
        None => Ok(JsValue::UNDEFINED),
    }
}

/// Commits a write transaction and waits until it is durable.
pub fn commit(tx: &IdbTransaction, context: &'static str) -> idb::Pending {
    // commit() is a hint that lets the browser finish without waiting for the task to end;
    // completion is what counts. web-sys marks it deprecated only because not every browser
    // had it when the binding was written; every current engine does.
    #[allow(deprecated)]
    let _ = tx.commit();
    idb::transaction_done(tx, context)
}

/// Awaits `work` in the write transaction `tx`, then commits it when the work succeeded and
/// aborts it when it failed: the value of a write path. A macro rather than an async function
/// taking the future, whose state machine around each path's own cost the wasm some 90 bytes
/// gzipped per path.
macro_rules! in_tx {
    ($tx:expr, $context:expr, $work:expr) => {
        match $work.await {
            Ok(value) => {
                $crate::store::tx::commit($tx, $context).await?;
                Ok(value)
            }
            Err(err) => Err($crate::store::tx::abort($tx, err)),
        }
    };
}
pub(crate) use in_tx;

/// Aborts a transaction after a failure, returning the original error.
pub fn abort(tx: &IdbTransaction, err: SyncError) -> SyncError {
    let _ = tx.abort();
    err
}

/// The app tables a batch touches, each opened once in its transaction. A list rather than a
/// map: a batch names few tables, and a map type of its own would add its code to the wasm.
pub struct BatchTables(Vec<(String, IdbObjectStore)>);

impl BatchTables {
    pub fn open<'a>(tx: &IdbTransaction, names: impl Iterator<Item = &'a String>) -> SyncResult<BatchTables> {
        let mut tables: Vec<(String, IdbObjectStore)> = Vec::new();
        for name in names {
            if !tables.iter().any(|(n, _)| n == name) {
                tables.push((name.clone(), object_store(tx, name)?));
            }
        }
        Ok(BatchTables(tables))
    }

    /// The store of a table the batch opened.
    pub fn get(&self, name: &str) -> &IdbObjectStore {
        &self.0.iter().find(|(n, _)| n == name).expect("every table of the batch is opened").1
    }

    pub fn iter(&self) -> impl Iterator<Item = &(String, IdbObjectStore)> {
        self.0.iter()
    }
}

/// Adds the tables a batch touches (named once per change, so with repeats) to the stores of its
/// transaction, each once. A scan rather than a sort: a batch names few tables, and a sort
/// would add its code to the wasm for this one use.
pub fn add_store_names<'a>(stores: &mut Vec<&'a str>, tables: impl Iterator<Item = &'a str>) {
    for table in tables {
        if !stores.contains(&table) {
            stores.push(table);
        }
    }
}
