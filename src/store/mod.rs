//! The IndexedDB store: one database per workspace holding the app's tables and synclane's own
//! stores, with every write of a record and its outbox entry in one transaction.

pub mod gc;
pub mod inspect;
pub mod js_objects;
pub mod outbox;
pub mod records;
pub mod remote;
pub mod rescan;
pub mod schema;
pub mod write;

use crate::idb;
use js_sys::Reflect;
use records::{from_stored, set};
use schema::{TableSpec, SYNC_STATE, TOMBSTONES};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use synclane_core::{ErrorCode, Quoted, SyncError, SyncResult};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbDatabase, IdbObjectStore, IdbTransaction};
use write::{totals_from_row, OutboxTotals, OUTBOX_TOTALS};

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

/// What a batch knows, before reading record by record, about which of its records the store
/// holds. The probe lists the keys of the tombstones and of each table up to a limit just above
/// the batch's size: a store that holds fewer keys than that is known whole, and only the
/// batch's records found in it need a read (none at all when it is empty, as on a bootstrap
/// or in a fresh table). A larger store is unknown and every record of the batch is read.
/// Each skipped read is a request that costs far more to issue and settle than its share of
/// the probe's one round trip.
pub struct Occupancy {
    pub outbox: bool,
    tombstones_listed: bool,
    listed_tables: Vec<String>,
    /// Keys found in the listed stores: bit 1 a record, bit 2 a tombstone. (The map type of
    /// the batch paths, to keep the wasm small.)
    found: HashMap<(String, String), usize>,
}

const FOUND_RECORD: usize = 1;
const FOUND_TOMBSTONE: usize = 2;

impl Occupancy {
    /// Every store assumed to hold something: read everything, probe nothing.
    pub fn assumed_full() -> Occupancy {
        Occupancy { outbox: true, tombstones_listed: false, listed_tables: Vec::new(), found: HashMap::new() }
    }

    /// Whether the store may hold the record `(table, pk)` (`false`: it certainly does not).
    pub fn may_have_record(&self, id: &(String, String)) -> bool {
        !self.listed_tables.contains(&id.0) || self.found_as(id, FOUND_RECORD)
    }

    /// Whether the store may hold a tombstone for the record `(table, pk)`.
    pub fn may_have_tombstone(&self, id: &(String, String)) -> bool {
        !self.tombstones_listed || self.found_as(id, FOUND_TOMBSTONE)
    }

    fn found_as(&self, id: &(String, String), bit: usize) -> bool {
        self.found.get(id).is_some_and(|found| found & bit != 0)
    }
}

/// What probes learnt about the size of stores. A store once seen holding at least `n` keys
/// is not listed again for a batch of fewer than `n` records: its records are read one by one
/// at once. Stores do shrink (garbage collection, a rescan, another tab), but believing one
/// large when it is not only costs the reads a listing would have spared, never a wrong answer.
///
/// A list rather than a map: a workspace has few stores, and a map type of its own would add
/// its code to the wasm.
#[derive(Default)]
pub struct StoreSizes(RefCell<Vec<(String, u32)>>);

impl StoreSizes {
    fn known_to_hold(&self, store: &str, keys: u32) -> bool {
        self.0.borrow().iter().any(|(name, held)| name == store && *held >= keys)
    }

    fn saw(&self, store: &str, keys: u32) {
        let mut sizes = self.0.borrow_mut();
        match sizes.iter_mut().find(|(name, _)| name == store) {
            Some((_, held)) => *held = (*held).max(keys),
            None => sizes.push((store.to_owned(), keys)),
        }
    }
}

/// Probes the tombstones and `tables` for a batch of `batch_size` records (listing keys: not
/// `count()`, which walks the whole store in Chromium) and reads the outbox totals, whose
/// count says whether the outbox is empty. Stores `sizes` knows to be larger than the batch
/// are not listed.
pub async fn probe_occupancy(
    tx: &IdbTransaction,
    sizes: &StoreSizes,
    tombstones: &IdbObjectStore,
    tables: &BatchTables,
    batch_size: usize,
) -> SyncResult<(Occupancy, OutboxTotals)> {
    let limit = u32::try_from(batch_size).unwrap_or(u32::MAX - 1) + 1;
    let probe = |name: &str, store: &IdbObjectStore| {
        if sizes.known_to_hold(name, limit) {
            return Ok(None);
        }
        store
            .get_all_keys_with_key_and_limit(&JsValue::NULL, limit)
            .map(Some)
            .map_err(|e| idb::storage_error("probing a store", &e))
    };
    let tombstones_req = probe(TOMBSTONES, tombstones)?;
    let totals_req = read_state_request(tx, OUTBOX_TOTALS)?;
    let mut table_reqs = Vec::new();
    for (name, table) in tables.iter() {
        table_reqs.push((name, probe(name, table)?));
    }
    let last = table_reqs.iter().filter_map(|(_, req)| req.as_ref()).next_back();
    idb::group_done(last.or(Some(&totals_req)), "probing stores").await?;
    // The keys, if the store holds fewer than the limit (then they are all of its keys).
    let listed = |name: &str, keys: JsValue| {
        let keys = js_sys::Array::from(&keys);
        if keys.length() < limit {
            return Some(keys);
        }
        sizes.saw(name, limit);
        None
    };
    let mut occupancy = Occupancy {
        outbox: false,
        tombstones_listed: false,
        listed_tables: Vec::new(),
        found: HashMap::new(),
    };
    if let Some(keys) = match tombstones_req {
        Some(req) => listed(TOMBSTONES, idb::request(&req, "probing tombstones").await?),
        None => None,
    } {
        occupancy.tombstones_listed = true;
        for key in keys.iter() {
            let key = js_sys::Array::from(&key);
            if let (Some(table), Some(pk)) = (key.get(0).as_string(), key.get(1).as_string()) {
                *occupancy.found.entry((table, pk)).or_default() |= FOUND_TOMBSTONE;
            }
        }
    }
    let totals = totals_from_row(idb::request(&totals_req, "reading sync state").await?)?;
    occupancy.outbox = totals.count > 0;
    for (name, req) in table_reqs {
        let Some(req) = req else { continue };
        if let Some(keys) = listed(name, idb::request(&req, "probing records").await?) {
            occupancy.listed_tables.push(name.clone());
            for key in keys.iter() {
                if let Some(pk) = key.as_string() {
                    *occupancy.found.entry((name.clone(), pk)).or_default() |= FOUND_RECORD;
                }
            }
        }
    }
    Ok((occupancy, totals))
}

/// Splits a batch's synchronous work into slices, so that applying a page or writing a large
/// batch never holds the main thread for long (the page stays responsive during a bootstrap).
/// Between slices the batch waits for a cheap read in its own transaction: requests finish in
/// order, so the transaction stays active and atomic, and the read's success event arrives in
/// a new task, after the browser has had its turn.
///
/// The read a pause waits for was issued when the slice began, not when it ends. Requests are
/// answered in order, so a read issued at the end would wait for every write of the slice to
/// be stored, with the main thread idle; issued at the start, it waits only for the previous
/// slice's writes, which the database stored while this slice ran. (Pausing with fresh reads
/// made a 1,000-write batch take 194 ms rather than 160 ms, in 10 ms slices.)
pub struct TimeSlicer {
    slice_ms: f64,
    started: f64,
    since_check: u32,
    /// The read the next pause waits for.
    marker: Option<web_sys::IdbRequest>,
}

impl TimeSlicer {
    /// A remote page: a bootstrap applies page after page, and each page's task also parses
    /// and validates it, so its slices are short (no task over 50 ms while bootstrapping).
    pub const REMOTE_PAGE_MS: f64 = 10.0;
    /// A local batch is one call of the app: slices just under the 50 ms of a long task. Each
    /// pause waits for the database to catch up, so fewer pauses finish the batch sooner
    /// (1,000 writes: 139 ms with these slices, 160 ms with 10 ms ones, 135 ms unsliced).
    pub const LOCAL_BATCH_MS: f64 = 40.0;
    /// Checking the time is a call out of the wasm: one check per this many steps.
    const STEPS_PER_CHECK: u32 = 32;

    pub fn new(slice_ms: f64) -> TimeSlicer {
        TimeSlicer { slice_ms, started: js_sys::Date::now(), since_check: 0, marker: None }
    }

    /// Called once per step of the batch; yields when the slice is used up.
    pub async fn step(&mut self, tx: &IdbTransaction) -> SyncResult<()> {
        self.since_check += 1;
        if self.since_check < Self::STEPS_PER_CHECK {
            return Ok(());
        }
        self.since_check = 0;
        if js_sys::Date::now() - self.started < self.slice_ms {
            // A batch long enough to be checked may need a pause: its first marker goes out
            // now, so that even the first pause waits only for the writes before it.
            if self.marker.is_none() {
                self.marker = Some(Self::marker(tx)?);
            }
            return Ok(());
        }
        let marker = match self.marker.take() {
            Some(marker) => marker,
            None => Self::marker(tx)?,
        };
        idb::request(&marker, "pausing a batch").await?;
        self.marker = Some(Self::marker(tx)?);
        self.started = js_sys::Date::now();
        Ok(())
    }

    fn marker(tx: &IdbTransaction) -> SyncResult<web_sys::IdbRequest> {
        read_state_request(tx, write::OUTBOX_TOTALS)
    }
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

/// Gets an object store of a transaction.
pub fn object_store(tx: &IdbTransaction, name: &str) -> SyncResult<IdbObjectStore> {
    tx.object_store(name).map_err(|e| idb::storage_error(&format!("opening store {name}"), &e))
}

/// Reads a value of `_sync_state`.
pub async fn read_state<T: records::Stored>(tx: &IdbTransaction, key: &str) -> SyncResult<Option<T>> {
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
pub fn parse_state<T: records::Stored>(row: JsValue, key: &str) -> SyncResult<Option<T>> {
    if row.is_undefined() {
        return Ok(None);
    }
    let inner = Reflect::get(&row, &"value".into()).unwrap_or(JsValue::UNDEFINED);
    from_stored(inner, key).map(Some)
}

/// Writes a value of `_sync_state` (the request completes with the transaction).
pub fn write_state(tx: &IdbTransaction, key: &str, value: &JsValue) -> SyncResult<()> {
    let store = object_store(tx, SYNC_STATE)?;
    let object = js_sys::Object::new();
    set(&object, "key", &JsValue::from_str(key))?;
    set(&object, "value", value)?;
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
