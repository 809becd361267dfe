//! The IndexedDB store: one database per workspace holding the app's tables and synclane's own
//! stores, with every write of a record and its outbox entry in one transaction.

pub mod gc;
pub mod inspect;
pub mod outbox;
pub mod records;
pub mod remote;
pub mod rescan;
pub mod schema;
pub mod write;

use crate::idb;
use js_sys::Reflect;
use records::{from_stored, set};
use schema::{TableSpec, SYNC_STATE};
use serde::{de::DeserializeOwned, Serialize};
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use synclane_core::{ErrorCode, SyncError, SyncResult};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbDatabase, IdbObjectStore, IdbTransaction};

/// An open workspace database.
///
/// When another tab upgrades the schema, the browser asks this connection to close
/// (`versionchange`); holding it open would block that tab. The store closes at once and
/// reopens, with an upgrade of its own if its declared schema needs one, before its next use.
pub struct Store {
    db: RefCell<IdbDatabase>,
    superseded: Rc<Cell<bool>>,
    closed: Cell<bool>,
    on_version_change: RefCell<Option<Closure<dyn FnMut()>>>,
    tables: Vec<TableSpec>,
    pub name: String,
    pub table_names: BTreeSet<String>,
}

impl Store {
    /// Opens (creating or upgrading as needed) the database `name` for `tables`.
    pub async fn open(name: &str, tables: Vec<TableSpec>) -> SyncResult<Store> {
        let db = connect(name, &tables).await?;
        // Inserted one by one: collecting into a set would add a sort to the wasm for this use.
        let mut table_names = BTreeSet::new();
        for table in &tables {
            table_names.insert(table.name.clone());
        }
        let store = Store {
            db: RefCell::new(db),
            superseded: Rc::new(Cell::new(false)),
            closed: Cell::new(false),
            on_version_change: RefCell::new(None),
            tables,
            name: name.to_owned(),
            table_names,
        };
        store.watch_version_changes();
        Ok(store)
    }

    fn watch_version_changes(&self) {
        let db = self.db.borrow().clone();
        let superseded = self.superseded.clone();
        let closing = db.clone();
        let listener = Closure::<dyn FnMut()>::new(move || {
            superseded.set(true);
            closing.close();
        });
        db.set_onversionchange(Some(listener.as_ref().unchecked_ref()));
        *self.on_version_change.borrow_mut() = Some(listener);
    }

    /// Makes sure the connection is usable: reopens it after another tab's upgrade closed it.
    pub async fn ready(&self) -> SyncResult<()> {
        if self.closed.get() {
            return Err(SyncError::new(ErrorCode::Closed, "the engine was closed"));
        }
        if self.superseded.get() {
            self.reconnect().await?;
        }
        Ok(())
    }

    /// Boxed so that the reopening, rarely needed, is one shared function rather than part of
    /// every method that awaits `ready`.
    fn reconnect(&self) -> Pin<Box<dyn Future<Output = SyncResult<()>> + '_>> {
        Box::pin(async move {
            let db = connect(&self.name, &self.tables).await?;
            *self.db.borrow_mut() = db;
            self.superseded.set(false);
            self.watch_version_changes();
            Ok(())
        })
    }

    pub fn close(&self) {
        self.closed.set(true);
        let db = self.db.borrow();
        db.set_onversionchange(None);
        db.close();
    }

    pub fn transaction(&self, stores: &[&str], write: bool) -> SyncResult<IdbTransaction> {
        if self.closed.get() {
            return Err(SyncError::new(ErrorCode::Closed, "the engine was closed"));
        }
        idb::transaction(&self.db.borrow(), stores, write)
    }

    pub fn check_table(&self, table: &str) -> SyncResult<()> {
        if self.table_names.contains(table) {
            Ok(())
        } else {
            Err(SyncError::new(
                ErrorCode::UnknownTable,
                format!("unknown table {table:?}; declare it in `tables` when opening"),
            ))
        }
    }
}

async fn connect(name: &str, tables: &[TableSpec]) -> SyncResult<IdbDatabase> {
    let db = idb::open(name, None, None).await?;
    let needs =
        schema::needs_upgrade(&db, tables).map_err(|e| idb::storage_error("reading the schema", &e))?;
    if !needs {
        return Ok(db);
    }
    let next = db.version() as u32 + 1;
    db.close();
    let declared = tables.to_vec();
    idb::open(name, Some(next), Some(Box::new(move |db, tx| schema::upgrade(db, tx, &declared)))).await
}

/// Gets an object store of a transaction.
pub fn object_store(tx: &IdbTransaction, name: &str) -> SyncResult<IdbObjectStore> {
    tx.object_store(name).map_err(|e| idb::storage_error(&format!("opening store {name}"), &e))
}

/// Reads a value of `_sync_state`.
pub async fn read_state<T: DeserializeOwned>(tx: &IdbTransaction, key: &str) -> SyncResult<Option<T>> {
    let req = read_state_request(tx, key)?;
    parse_state(idb::request(&req, "reading sync state").await?, key)
}

/// Issues the read of a value of `_sync_state`, to await with others.
pub fn read_state_request(tx: &IdbTransaction, key: &str) -> SyncResult<web_sys::IdbRequest> {
    object_store(tx, SYNC_STATE)?
        .get(&JsValue::from_str(key))
        .map_err(|e| idb::storage_error("reading sync state", &e))
}

/// Reads the value of `_sync_state` row `key` from the row a request returned.
pub fn parse_state<T: DeserializeOwned>(row: JsValue, key: &str) -> SyncResult<Option<T>> {
    if row.is_undefined() {
        return Ok(None);
    }
    let inner = Reflect::get(&row, &"value".into()).unwrap_or(JsValue::UNDEFINED);
    from_stored(inner, key).map(Some)
}

/// Writes a value of `_sync_state` (the request completes with the transaction).
pub fn write_state<T: Serialize>(tx: &IdbTransaction, key: &str, value: &T) -> SyncResult<()> {
    let store = object_store(tx, SYNC_STATE)?;
    let object = js_sys::Object::new();
    set(&object, "key", &JsValue::from_str(key))?;
    set(&object, "value", &crate::interop::to_js(value)?)?;
    store.put(&object).map(|_| ()).map_err(|e| idb::storage_error("writing sync state", &e))
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

/// Runs `work` in a write transaction: commits when it succeeds, aborts when it fails.
pub async fn in_tx<T>(
    tx: &IdbTransaction,
    context: &'static str,
    work: impl std::future::Future<Output = SyncResult<T>>,
) -> SyncResult<T> {
    match work.await {
        Ok(value) => {
            commit(tx, context).await?;
            Ok(value)
        }
        Err(err) => Err(abort(tx, err)),
    }
}

/// Aborts a transaction after a failure, returning the original error.
pub fn abort(tx: &IdbTransaction, err: SyncError) -> SyncError {
    let _ = tx.abort();
    err
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

pub fn js_array_of(items: &[&str]) -> js_sys::Array {
    items.iter().map(|s| JsValue::from_str(s)).collect()
}

pub fn record_key(table: &str, pk: &str) -> JsValue {
    js_array_of(&[table, pk]).unchecked_into()
}
