//! How a batch reads what it needs and shares the main thread: the probe that tells which of a
//! batch's records the store may hold (so records it surely lacks are not read), what probes
//! learnt about store sizes, and the time slicing of long batches.

use super::rows::{read_state_request, totals_from_row, OutboxTotals, OUTBOX_TOTALS};
use super::schema::TOMBSTONES;
use super::tx::BatchTables;
use crate::idb;
use std::cell::RefCell;
use std::collections::HashMap;
use synclane_core::SyncResult;
use wasm_bindgen::JsValue;
use web_sys::{IdbObjectStore, IdbTransaction};

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
        read_state_request(tx, OUTBOX_TOTALS)
    }
}
