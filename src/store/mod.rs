//! The IndexedDB store: one database per workspace holding the app's tables and synclane's own
//! stores, with every write of a record and its outbox entry in one transaction.
//!
//! This file is the connection ([`Store`]). Its modules depend downwards only:
//! - `schema`, `js_objects`: the layout and migrations; the objects built in JavaScript.
//! - `tx`: transactions (commit, abort, the tables a batch opens).
//! - `records`: how records, tombstones and outbox entries are stored and read back.
//! - `rows`: synclane's own rows (`_sync_state`, the conflict log, staged changes).
//! - `batch`: what a batch probes before reading, and its time slicing.
//! - the paths over them: `write`, `remote`, `outbox`, `settle`, `staging`, `rescan`, `gc`, `inspect`, each handing
//!   back a report of its own; turning reports into JavaScript results is `crate::results`'s,
//!   which the store never imports.

pub mod batch;
pub mod gc;
pub mod inspect;
pub mod js_objects;
pub mod outbox;
pub mod records;
pub mod remote;
pub mod rescan;
pub mod rows;
pub mod schema;
pub mod settle;
pub mod staging;
pub mod tx;
pub mod write;

use crate::idb;
use batch::StoreSizes;
use js_sys::Reflect;
use schema::TableSpec;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use synclane_core::{ErrorCode, Quoted, SyncError, SyncResult};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbDatabase, IdbTransaction};

/// A DOM event handler kept alive as long as the connection it listens to.
type EventListener = Closure<dyn FnMut(web_sys::Event)>;

/// An open workspace database.
///
/// The connection can go away under the engine in three ways, each handled so that no pending
/// write disappears unnoticed:
/// - Another tab upgrades the schema: the browser asks this connection to close
///   (`versionchange`); holding it open would block that tab. The store closes at once and
///   reopens, with an upgrade of its own if its declared schema needs one, before its next use.
/// - Another tab (or the app) deletes the database: the store reads its outbox in a transaction
///   started before closing (the browser lets it finish), hands those pending writes to the
///   `on_lost` callback, and refuses further use with `closed`. Recreating the database would
///   silently resurrect a workspace someone meant to remove.
/// - The browser closes the connection itself (site data cleared, a disk error): the store
///   tells `on_lost` and reopens before its next use.
pub struct Store {
    db: RefCell<IdbDatabase>,
    superseded: Rc<Cell<bool>>,
    deleted: Rc<Cell<bool>>,
    closed: Cell<bool>,
    on_lost: Rc<RefCell<Option<js_sys::Function>>>,
    listeners: RefCell<Vec<EventListener>>,
    tables: Vec<TableSpec>,
    pub name: String,
    pub table_names: HashSet<String>,
    pub sizes: StoreSizes,
}

impl Store {
    /// Opens (creating or upgrading as needed) the database `name` for `tables`.
    pub async fn open(name: &str, tables: Vec<TableSpec>) -> SyncResult<Store> {
        let db = connect(name, &tables).await?;
        // Inserted one by one: collecting into a set would add a sort to the wasm for this use.
        let mut table_names = HashSet::new();
        for table in &tables {
            table_names.insert(table.name.clone());
        }
        let store = Store {
            db: RefCell::new(db),
            superseded: Rc::new(Cell::new(false)),
            deleted: Rc::new(Cell::new(false)),
            closed: Cell::new(false),
            on_lost: Rc::new(RefCell::new(None)),
            listeners: RefCell::new(Vec::new()),
            tables,
            name: name.to_owned(),
            table_names,
            sizes: StoreSizes::default(),
        };
        store.watch_connection();
        Ok(store)
    }

    /// Sets the callback told when the database goes away: `{ reason: 'deleted', pendingOps }`
    /// or `{ reason: 'closed' }`.
    pub fn set_on_lost(&self, callback: Option<js_sys::Function>) {
        *self.on_lost.borrow_mut() = callback;
    }

    fn watch_connection(&self) {
        let db = self.db.borrow().clone();
        let (superseded, deleted, on_lost, closing) =
            (self.superseded.clone(), self.deleted.clone(), self.on_lost.clone(), db.clone());
        let on_version_change = EventListener::new(move |event: web_sys::Event| {
            let deleting =
                event.dyn_ref::<web_sys::IdbVersionChangeEvent>().is_some_and(|e| e.new_version().is_none());
            if !deleting {
                superseded.set(true);
                closing.close();
                return;
            }
            deleted.set(true);
            // Issued before close(): the browser completes this transaction before the
            // connection closes and the deletion proceeds.
            let pending = closing
                .transaction_with_str(schema::PENDING_OPS)
                .and_then(|tx| tx.object_store(schema::PENDING_OPS))
                .and_then(|s| s.get_all());
            closing.close();
            let on_lost = on_lost.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let ops = match pending {
                    Ok(req) => idb::request(&req, "reading the outbox").await.unwrap_or(JsValue::NULL),
                    Err(_) => JsValue::NULL,
                };
                tell_lost(&on_lost, "deleted", Some(&ops));
            });
        });
        let (superseded, on_lost) = (self.superseded.clone(), self.on_lost.clone());
        // Fired only when the browser closes the connection, never after `close()`.
        let on_close = EventListener::new(move |_| {
            superseded.set(true);
            tell_lost(&on_lost, "closed", None);
        });
        db.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
        db.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        *self.listeners.borrow_mut() = vec![on_version_change, on_close];
    }

    /// Makes sure the connection is usable: reopens it after another tab's upgrade, or after
    /// the browser closed it.
    pub async fn ready(&self) -> SyncResult<()> {
        self.check_usable()?;
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
            self.watch_connection();
            Ok(())
        })
    }

    fn check_usable(&self) -> SyncResult<()> {
        if self.deleted.get() {
            return Err(SyncError::new(
                ErrorCode::Closed,
                format!(
                    "the database {} was deleted while the engine was open; its pending writes went to the \
                     `sync.storage:action:lost` event; open the engine again",
                    Quoted(&self.name)
                ),
            ));
        }
        if self.closed.get() {
            return Err(SyncError::new(ErrorCode::Closed, "the engine was closed"));
        }
        Ok(())
    }

    pub fn close(&self) {
        self.closed.set(true);
        let db = self.db.borrow();
        db.set_onversionchange(None);
        db.set_onclose(None);
        db.close();
    }

    pub fn transaction(&self, stores: &[&str], write: bool) -> SyncResult<IdbTransaction> {
        self.check_usable()?;
        idb::transaction(&self.db.borrow(), stores, write)
    }

    pub fn check_table(&self, table: &str) -> SyncResult<()> {
        if self.table_names.contains(table) {
            Ok(())
        } else {
            Err(SyncError::new(
                ErrorCode::UnknownTable,
                format!("unknown table {}; declare it in `tables` when opening", Quoted(table)),
            ))
        }
    }
}

/// Calls the `on_lost` callback with `{ reason, pendingOps? }`.
fn tell_lost(on_lost: &Rc<RefCell<Option<js_sys::Function>>>, reason: &str, pending_ops: Option<&JsValue>) {
    let Some(callback) = on_lost.borrow().clone() else { return };
    let info = js_sys::Object::new();
    let _ = Reflect::set(&info, &"reason".into(), &reason.into());
    if let Some(ops) = pending_ops {
        let _ = Reflect::set(&info, &"pendingOps".into(), ops);
    }
    let _ = callback.call1(&JsValue::UNDEFINED, &info);
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
