//! Deterministic simulation: several replicas and the reference server, random writes and
//! deletes, offline periods, lost, delayed, duplicated and reordered deliveries, clock skew,
//! cursor expiry followed by rescans, and server resets (the server replaced by an empty one
//! with a new epoch). After everyone syncs, every replica must hold the same data as the
//! server, equal to a simple model of the conflict rule applied to every op ever written: no
//! acknowledged write is lost unless a higher version beat it. A reset replaces the model's ops
//! with the versions the devices held at that moment: those, and everything written after,
//! must survive.
//!
//! `SYNCLANE_SIM_SEEDS=N` sets how many seeds run (default 500); `SYNCLANE_SIM_SEED=S` replays
//! one seed. A failure names its seed.
//!
//! One file of over 800 lines: every step of the world (writes, pushes, pulls, deliveries,
//! faults, resets) is a method of the one `World` they all act on, and a failing seed is
//! followed through them, so they stay together.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;
use synclane_core::apply::{decide_remote, RemoteDecision};
use synclane_core::change::{PendingOp, PullRequest, PushBatch, PushStatus, SyncChange, SyncScope};
use synclane_core::cursor::{CursorPhase, CursorState};
use synclane_core::echo::RecentOpCache;
use synclane_core::gc::{tombstone_collectable, GcPolicy, TombstoneAge};
use synclane_core::hlc::{ClockPolicy, HlcStamp, HybridClock};
use synclane_core::outbox::{OpState, Outbox, OutboxConfig, PushOutcome, RetryPolicy};
use synclane_core::plan::{compute_plan, RecordKey, RecordMeta};
use synclane_core::reset::compute_reset_plan;
use synclane_core::server::{MemoryServer, ServerConfig};
use synclane_core::{compare_versions, next_clock, ChangeStamp, ErrorCode, OpKind, SyncError, VersionRef};

const T0: u64 = 1_767_225_600_000;
const TABLES: [&str; 2] = ["notes", "tags"];
const PAGE: u32 = 4;

type Key = (String, String);

#[derive(Debug, Clone, PartialEq)]
struct LocalVersion {
    stamp: ChangeStamp,
    op: OpKind,
    payload: Option<Value>,
    server_version: Option<u64>,
}

/// A pull page as delivered: its changes, next cursor, whether more follow, and the epoch of
/// the server that sent it.
type DeliveredPage = (Vec<SyncChange<Value>>, u64, bool, Option<String>);

struct Replica {
    device_id: String,
    physical: Rc<Cell<u64>>,
    skew_ms: i64,
    clock: HybridClock,
    records: BTreeMap<Key, LocalVersion>,
    outbox: Outbox<Value>,
    cursor: CursorState,
    echo: RecentOpCache,
    online: bool,
    busy_pushing: bool,
    /// Pages delivered before, with the epoch of the server that sent them, for redelivery.
    old_pages: Vec<DeliveredPage>,
    ops_written: u64,
    bootstrap_floor: Option<u64>,
    /// The server data set the cursor counts in.
    epoch: Option<String>,
}

struct InTransit {
    replica: usize,
    batch: Vec<PendingOp<Value>>,
    duplicate: bool,
}

struct World {
    rng: StdRng,
    now: u64,
    server: MemoryServer<Value>,
    replicas: Vec<Replica>,
    in_transit: Vec<InTransit>,
    all_ops: Vec<(Key, ChangeStamp, OpKind, Option<Value>)>,
    faults: bool,
    stats: Stats,
    /// How many servers came before this one (each reset starts a new one).
    generation: u32,
}

#[derive(Default, Debug)]
struct Stats {
    rescans: u32,
    expired: u32,
    resets: u32,
    reset_rescans: u32,
    lost_requests: u32,
    lost_responses: u32,
    duplicates: u32,
    stale_pages: u32,
    conflicts: u32,
}

fn trace(key: &Key, what: impl FnOnce() -> String) {
    if let Ok(wanted) = std::env::var("SYNCLANE_SIM_TRACE") {
        if wanted == format!("{}/{}", key.0, key.1) {
            eprintln!("{}", what());
        }
    }
}

fn scope() -> SyncScope {
    SyncScope::new("sim")
}

impl Replica {
    fn new(index: usize, skew_ms: i64, retry: RetryPolicy) -> Replica {
        let physical = Rc::new(Cell::new(T0));
        let reader = physical.clone();
        let device_id = format!("device-{index}");
        let clock =
            HybridClock::new(&device_id, Box::new(move || reader.get()), ClockPolicy::default()).unwrap();
        Replica {
            device_id,
            physical,
            skew_ms,
            clock,
            records: BTreeMap::new(),
            outbox: Outbox::new(OutboxConfig { max_batch_ops: 5, retry, ..OutboxConfig::default() }).unwrap(),
            cursor: CursorState::default(),
            echo: RecentOpCache::new(64),
            online: true,
            busy_pushing: false,
            old_pages: Vec::new(),
            ops_written: 0,
            bootstrap_floor: None,
            epoch: None,
        }
    }

    fn tick(&self, now: u64) {
        self.physical.set((now as i64 + self.skew_ms) as u64);
    }
}

impl World {
    fn new(seed: u64) -> World {
        let mut rng = StdRng::seed_from_u64(seed);
        let count = rng.gen_range(2..=4);
        let retry = RetryPolicy { max_attempts: 4, ..RetryPolicy::default() };
        let replicas = (0..count)
            .map(|i| {
                let skew = match rng.gen_range(0..4) {
                    0 => 0,
                    1 => 10 * 60 * 1000,
                    2 => -10 * 60 * 1000,
                    _ => rng.gen_range(-3000..3000),
                };
                Replica::new(i, skew, retry.clone())
            })
            .collect();
        let config = ServerConfig {
            tombstone_retention_ms: 3_000,
            device_ttl_ms: 2_000,
            max_pull_limit: 1000,
            ..ServerConfig::default()
        };
        World {
            rng,
            now: T0,
            server: MemoryServer::new(config).with_epoch("epoch-0"),
            replicas,
            in_transit: Vec::new(),
            all_ops: Vec::new(),
            faults: true,
            stats: Stats::default(),
            generation: 0,
        }
    }

    fn advance(&mut self, ms: u64) {
        self.now += ms;
        for replica in &self.replicas {
            replica.tick(self.now);
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.faults && self.rng.gen_bool(p)
    }

    fn write(&mut self, r: usize) {
        let table = TABLES[self.rng.gen_range(0..TABLES.len())].to_string();
        let pk = format!("k{}", self.rng.gen_range(0..6));
        let delete = self.rng.gen_bool(0.3);
        let key = (table.clone(), pk.clone());
        let now = self.now;
        let replica = &mut self.replicas[r];
        replica.ops_written += 1;
        let clock = next_clock(replica.records.get(&key).map(|v| v.stamp.clock));
        let stamp = ChangeStamp {
            clock,
            hlc: replica.clock.now().encode(),
            device_id: replica.device_id.clone(),
            op_id: format!("{}-op{}", replica.device_id, replica.ops_written),
        };
        let (op, payload) = if delete {
            (OpKind::Delete, None)
        } else {
            (OpKind::Put, Some(json!({"id": pk, "by": stamp.op_id, "n": replica.ops_written})))
        };
        replica.records.insert(
            key.clone(),
            LocalVersion { stamp: stamp.clone(), op, payload: payload.clone(), server_version: None },
        );
        replica.outbox.capture(
            PendingOp { table_name: table, pk, op, payload: payload.clone(), stamp: stamp.clone() },
            now,
        );
        trace(&key, || format!("t={} {} writes {op:?} {stamp:?}", self.now, self.replicas[r].device_id));
        self.all_ops.push((key, stamp, op, payload));
    }

    fn push(&mut self, r: usize) {
        if !self.replicas[r].online || self.replicas[r].busy_pushing {
            return;
        }
        // A device pushes only once it has bootstrapped. Until then it holds nothing but
        // pending ops, which is what lets its bootstrap be served as a snapshot from cursor 0
        // even after tombstones were purged.
        if matches!(self.replicas[r].cursor.phase, CursorPhase::ColdStart | CursorPhase::Bootstrapping) {
            return;
        }
        let now = self.now;
        let batch = self.replicas[r].outbox.take_batch(now);
        if batch.is_empty() {
            return;
        }
        if self.chance(0.1) {
            self.stats.lost_requests += 1;
            self.settle_all(r, &batch, network_error());
        } else if self.chance(0.15) {
            // Delayed in the network: delivered later, maybe twice, in any order.
            let duplicate = self.chance(0.3);
            self.replicas[r].busy_pushing = true;
            self.in_transit.push(InTransit { replica: r, batch, duplicate });
        } else {
            self.deliver_push(r, batch, false);
        }
    }

    fn deliver_push(&mut self, r: usize, batch: Vec<PendingOp<Value>>, duplicate: bool) {
        let device_id = self.replicas[r].device_id.clone();
        let now = self.now;
        let result = self
            .server
            .push(PushBatch { scope: scope(), device_id: device_id.clone(), ops: batch.clone() }, now);
        if duplicate {
            self.stats.duplicates += 1;
            let again =
                self.server.push(PushBatch { scope: scope(), device_id, ops: batch.clone() }, now).unwrap();
            assert!(again
                .results
                .iter()
                .all(|r| r.status == PushStatus::Duplicate || r.status == PushStatus::Superseded));
        }
        let result = result.expect("the server refused a well-formed batch");
        if !self.replicas[r].online || self.chance(0.1) {
            // Applied on the server, but the answer never arrives: the ops retry, and the
            // server's op-id dedup makes the retry harmless.
            self.stats.lost_responses += 1;
            self.settle_all(r, &batch, network_error());
            return;
        }
        let random = self.rng.gen::<f64>();
        let replica = &mut self.replicas[r];
        for (op, outcome) in batch.iter().zip(&result.results) {
            assert_eq!(op.stamp.op_id, outcome.op_id, "results come back in batch order");
            trace(&(op.table_name.clone(), op.pk.clone()), || {
                format!(
                    "  {} (cursor {:?}) push ack {} {:?} v{:?} current {:?}",
                    replica.device_id,
                    replica.cursor,
                    op.stamp.op_id,
                    outcome.status,
                    outcome.server_version,
                    outcome.current.as_ref().map(|c| (&c.stamp.op_id, c.op))
                )
            });
            match outcome.status {
                PushStatus::Applied | PushStatus::Duplicate | PushStatus::Superseded => {
                    replica.echo.remember(&op.stamp.op_id);
                    replica.outbox.settle(&op.stamp.op_id, &PushOutcome::Acknowledged, now, random);
                    if let Some(winner) = &outcome.current {
                        // Our op lost to a version we may never pull (it can sit below our
                        // cursor): apply it now, by the same rule as any remote change.
                        let key = (winner.table_name.clone(), winner.pk.clone());
                        let pending = replica.outbox.has_record(&winner.table_name, &winner.pk);
                        let local = replica.records.get(&key);
                        let decision = decide_remote(
                            local.map(|l| VersionRef::new(&l.stamp, l.op)),
                            pending,
                            VersionRef::new(&winner.stamp, winner.op),
                            false,
                        );
                        if decision.writes() {
                            replica.records.insert(
                                key,
                                LocalVersion {
                                    stamp: winner.stamp.clone(),
                                    op: winner.op,
                                    payload: winner.payload.clone(),
                                    server_version: Some(winner.server_version),
                                },
                            );
                        }
                    }
                    if let (Some(version), Some(local)) = (
                        outcome.server_version,
                        replica.records.get_mut(&(op.table_name.clone(), op.pk.clone())),
                    ) {
                        if local.stamp.op_id == op.stamp.op_id {
                            local.server_version = Some(version);
                        }
                    }
                }
                PushStatus::Rejected => {
                    let error = outcome
                        .error
                        .clone()
                        .unwrap_or_else(|| SyncError::new(ErrorCode::Rejected, "rejected"));
                    replica.outbox.settle(&op.stamp.op_id, &PushOutcome::Failed(error), now, random);
                }
            }
        }
    }

    fn settle_all(&mut self, r: usize, batch: &[PendingOp<Value>], error: SyncError) {
        let random = self.rng.gen::<f64>();
        let now = self.now;
        for op in batch {
            self.replicas[r].outbox.settle(&op.stamp.op_id, &PushOutcome::Failed(error.clone()), now, random);
        }
    }

    fn deliver_in_transit(&mut self, all: bool) {
        while !self.in_transit.is_empty() {
            let index = self.rng.gen_range(0..self.in_transit.len());
            let InTransit { replica, batch, duplicate } = self.in_transit.swap_remove(index);
            self.replicas[replica].busy_pushing = false;
            self.deliver_push(replica, batch, duplicate);
            if !all {
                break;
            }
        }
    }

    fn pull(&mut self, r: usize) {
        if !self.replicas[r].online {
            return;
        }
        match self.replicas[r].cursor.phase {
            CursorPhase::ColdStart => self.replicas[r].cursor.begin_bootstrap().unwrap(),
            CursorPhase::Expired | CursorPhase::Rescanning => return self.rescan(r),
            CursorPhase::Bootstrapping | CursorPhase::Live => {}
        }
        for _ in 0..3 {
            let bootstrapping = self.replicas[r].cursor.phase == CursorPhase::Bootstrapping;
            let request = PullRequest {
                device_id: Some(self.replicas[r].device_id.clone()),
                // A bootstrap pages from 0 and carries the floor its first page saw.
                snapshot: bootstrapping,
                retention_floor: if bootstrapping { self.replicas[r].bootstrap_floor } else { None },
                ..PullRequest::new(scope(), self.replicas[r].cursor.cursor, PAGE)
            };
            let response = match self.server.pull(&request, self.now) {
                Ok(response) => response,
                Err(err) if err.code == ErrorCode::CursorExpired => {
                    self.stats.expired += 1;
                    self.replicas[r].cursor.expire().unwrap();
                    return self.rescan(r);
                }
                Err(err) => panic!("unexpected pull error {err}"),
            };
            if self.chance(0.1) {
                return; // the page was lost on the way; the cursor did not move
            }
            // A page of another data set than the cursor's: the server was reset.
            if CursorState::check_epoch(self.replicas[r].epoch.as_deref(), response.epoch.as_deref()).is_err()
            {
                self.replicas[r].cursor.expire().unwrap();
                return self.rescan(r);
            }
            if self.replicas[r].epoch.is_none() {
                self.replicas[r].epoch = response.epoch.clone();
            }
            if bootstrapping && self.replicas[r].bootstrap_floor.is_none() {
                self.replicas[r].bootstrap_floor = Some(response.retention_floor);
            }
            self.apply_page(r, &response.changes, response.next_cursor, response.has_more);
            self.replicas[r].old_pages.push((
                response.changes,
                response.next_cursor,
                response.has_more,
                response.epoch,
            ));
            let cursor = self.replicas[r].cursor.cursor;
            let device = self.replicas[r].device_id.clone();
            self.server.update_cursor(&scope(), &device, cursor, self.now).unwrap();
            if !response.has_more {
                break;
            }
        }
    }

    fn apply_page(&mut self, r: usize, changes: &[SyncChange<Value>], next_cursor: u64, has_more: bool) {
        let replica = &mut self.replicas[r];
        let cursor = replica.cursor.cursor;
        for change in changes {
            if change.server_version <= cursor {
                continue; // already covered by the cursor: a stale or duplicated delivery
            }
            let key = (change.table_name.clone(), change.pk.clone());
            let pending = replica.outbox.has_record(&change.table_name, &change.pk);
            let local = replica.records.get(&key);
            let decision = decide_remote(
                local.map(|l| VersionRef::new(&l.stamp, l.op)),
                pending,
                VersionRef::new(&change.stamp, change.op),
                replica.echo.is_echo(&change.stamp.op_id),
            );
            let _ =
                replica.clock.merge(&change.stamp.hlc).expect("honest stamps are within the rejection bound");
            if decision.is_conflict() {
                self.stats.conflicts += 1;
            }
            trace(&key, || {
                format!(
                    "  {} page change v{} {:?} {} -> {decision:?} (cursor {cursor})",
                    replica.device_id, change.server_version, change.op, change.stamp.op_id
                )
            });
            match decision {
                RemoteDecision::Apply | RemoteDecision::ApplyOverPending => {
                    replica.records.insert(
                        key,
                        LocalVersion {
                            stamp: change.stamp.clone(),
                            op: change.op,
                            payload: change.payload.clone(),
                            server_version: Some(change.server_version),
                        },
                    );
                }
                RemoteDecision::Echo | RemoteDecision::Identical => {
                    if let Some(local) = replica.records.get_mut(&key) {
                        if local.stamp == change.stamp {
                            local.server_version = Some(change.server_version);
                        }
                    }
                }
                RemoteDecision::KeepLocal => {}
            }
        }
        replica.cursor.apply_page(next_cursor, has_more).unwrap();
    }

    fn redeliver_stale_page(&mut self, r: usize) {
        let replica = &self.replicas[r];
        if replica.old_pages.is_empty() || !matches!(replica.cursor.phase, CursorPhase::Live) {
            return;
        }
        let index = self.rng.gen_range(0..replica.old_pages.len());
        let (changes, next, more, epoch) = replica.old_pages[index].clone();
        if CursorState::check_epoch(replica.epoch.as_deref(), epoch.as_deref()).is_err() {
            // A late page of a server that was reset since: the store refuses it whole.
            return;
        }
        let before = self.replicas[r].records.clone();
        let cursor_before = self.replicas[r].cursor.cursor;
        self.apply_page(r, &changes, next, more);
        self.stats.stale_pages += 1;
        assert_eq!(self.replicas[r].cursor.cursor, cursor_before, "a stale page moved the cursor");
        assert_eq!(self.replicas[r].records, before, "a stale page changed data");
    }

    /// Full pull into a staging area, plan against local data, keep pending records, swap.
    fn rescan(&mut self, r: usize) {
        self.stats.rescans += 1;
        trace(&("notes".into(), "k4".into()), || {
            format!(
                "t={} {} rescans from {:?}",
                self.now, self.replicas[r].device_id, self.replicas[r].cursor
            )
        });
        self.replicas[r].cursor.begin_rescan().unwrap();
        let mut staged: Vec<SyncChange<Value>> = Vec::new();
        let mut cursor = 0;
        let mut floor = None;
        let mut snapshot_epoch: Option<Option<String>> = None;
        loop {
            let request = PullRequest {
                device_id: Some(self.replicas[r].device_id.clone()),
                snapshot: true,
                retention_floor: floor,
                ..PullRequest::new(scope(), cursor, PAGE)
            };
            let page = match self.server.pull(&request, self.now) {
                Ok(page) => page,
                // Tombstones were purged past the pages already staged: those pages may hold
                // records deleted since. Start over from 0; the old data stays meanwhile.
                Err(err) if err.code == ErrorCode::CursorExpired => {
                    self.replicas[r].cursor.abort_rescan().unwrap();
                    return;
                }
                Err(err) => panic!("unexpected pull error {err}"),
            };
            if self.chance(0.05) {
                // Interrupted: the staged data is dropped, the old data stays.
                self.replicas[r].cursor.abort_rescan().unwrap();
                return;
            }
            // Pages must be contiguous: each starts where the last ended, and of one server.
            assert!(page.changes.iter().all(|c| c.server_version > cursor));
            let first_epoch = snapshot_epoch.get_or_insert_with(|| page.epoch.clone());
            if CursorState::check_epoch(first_epoch.as_deref(), page.epoch.as_deref()).is_err() {
                self.replicas[r].cursor.abort_rescan().unwrap();
                return;
            }
            staged.extend(page.changes);
            cursor = page.next_cursor;
            floor = floor.or(Some(page.retention_floor));
            if !page.has_more {
                break;
            }
        }
        let replica = &mut self.replicas[r];
        let local: Vec<RecordMeta> = replica
            .records
            .iter()
            .map(|((t, k), v)| RecordMeta {
                key: RecordKey::new(t, k),
                stamp: v.stamp.clone(),
                deleted: v.op == OpKind::Delete,
            })
            .collect();
        let remote: Vec<RecordMeta> = staged.iter().map(RecordMeta::of_change).collect();
        let pending: HashSet<RecordKey> =
            replica.outbox.entries().map(|e| RecordKey::new(&e.op.table_name, &e.op.pk)).collect();
        let snapshot_epoch = snapshot_epoch.flatten();
        let reset =
            replica.cursor.server_was_reset(cursor, replica.epoch.as_deref(), snapshot_epoch.as_deref());
        let (plan, republish) = if reset {
            self.stats.reset_rescans += 1;
            let reset = compute_reset_plan(&local, &remote, &pending).expect("plan over well-formed sets");
            (reset.plan, reset.republish)
        } else {
            (compute_plan(&local, &remote, &pending).expect("plan over well-formed sets"), Vec::new())
        };
        let by_key: BTreeMap<RecordKey, &SyncChange<Value>> =
            staged.iter().map(|c| (RecordKey::new(&c.table_name, &c.pk), c)).collect();
        for meta in
            plan.creations.iter().chain(&plan.updates).chain(plan.deletions.iter().filter(|m| m.deleted))
        {
            let change = by_key[&meta.key];
            replica.records.insert(
                (meta.key.table.clone(), meta.key.pk.clone()),
                LocalVersion {
                    stamp: change.stamp.clone(),
                    op: change.op,
                    payload: change.payload.clone(),
                    server_version: Some(change.server_version),
                },
            );
        }
        for meta in plan.creations.iter().chain(&plan.updates).chain(&plan.deletions) {
            trace(&(meta.key.table.clone(), meta.key.pk.clone()), || {
                format!("  {} rescan plan touches {meta:?}", replica.device_id)
            });
        }
        for key in &plan.kept_for_rebase {
            trace(&(key.table.clone(), key.pk.clone()), || {
                format!("  {} rescan keeps pending", replica.device_id)
            });
        }
        for meta in plan.deletions.iter().filter(|m| !m.deleted) {
            replica.records.remove(&(meta.key.table.clone(), meta.key.pk.clone()));
        }
        for change in &staged {
            let _ = replica.clock.merge(&change.stamp.hlc);
        }
        // What the reset server lost goes back to it, each version as the op that wrote it.
        for meta in &republish {
            let local = &replica.records[&(meta.key.table.clone(), meta.key.pk.clone())];
            trace(&(meta.key.table.clone(), meta.key.pk.clone()), || {
                format!("  {} republishes {:?}", replica.device_id, local.stamp)
            });
            let op = PendingOp {
                table_name: meta.key.table.clone(),
                pk: meta.key.pk.clone(),
                op: local.op,
                payload: local.payload.clone(),
                stamp: local.stamp.clone(),
            };
            replica.outbox.capture(op, self.now);
        }
        if reset {
            replica.cursor.complete_reset(cursor).unwrap();
        } else {
            replica.cursor.complete_rescan(cursor).unwrap();
        }
        if snapshot_epoch.is_some() {
            replica.epoch = snapshot_epoch;
        }
        let device = replica.device_id.clone();
        self.server.update_cursor(&scope(), &device, cursor, self.now).unwrap();
    }

    fn collect_local_tombstones(&mut self, r: usize) {
        let now = self.now;
        let current_epoch = self.current_epoch();
        let replica = &mut self.replicas[r];
        let policy = GcPolicy { tombstone_retention_ms: 1_000 };
        let cursor = replica.cursor.cursor;
        let doomed: Vec<Key> = replica
            .records
            .iter()
            .filter(|(key, v)| {
                v.op == OpKind::Delete
                    && tombstone_collectable(
                        &TombstoneAge {
                            deleted_at_ms: HlcStamp::parse(&v.stamp.hlc)
                                .map(|s| s.physical_ms())
                                .unwrap_or(u64::MAX),
                            server_version: v.server_version,
                            has_pending_op: replica.outbox.has_record(&key.0, &key.1),
                        },
                        cursor,
                        now,
                        &policy,
                    )
            })
            .map(|(k, _)| k.clone())
            .collect();
        // A device that has not yet seen a reset collects tombstones its cursor covers on the
        // old server, which the new one never got. Such a version survives only where others
        // still hold it; if nobody does, the model forgets it too (as when every device has
        // collected a tombstone and the server's stamp of it went with the reset).
        let unaware = replica.epoch.as_deref() != Some(current_epoch.as_str());
        let mut dropped = Vec::new();
        for key in doomed {
            trace(&key, || format!("  {} purges its tombstone", replica.device_id));
            if let Some(version) = replica.records.remove(&key) {
                dropped.push((key, version.stamp.op_id));
            }
        }
        if unaware {
            for (key, op_id) in dropped {
                if !self.holds(&key, &op_id) {
                    trace(&key, || format!("  {op_id} is held by nobody after the reset"));
                    self.all_ops.retain(|(_, stamp, _, _)| stamp.op_id != op_id);
                }
            }
        }
    }

    fn current_epoch(&self) -> String {
        format!("epoch-{}", self.generation)
    }

    /// Whether a version is still held anywhere: a device's store or outbox, a push on its way,
    /// or the current server.
    fn holds(&self, key: &Key, op_id: &str) -> bool {
        self.replicas.iter().any(|replica| {
            replica.records.get(key).is_some_and(|v| v.stamp.op_id == op_id)
                || replica.outbox.entries().any(|e| e.op.stamp.op_id == op_id)
        }) || self.in_transit.iter().any(|t| t.batch.iter().any(|op| op.stamp.op_id == op_id))
            || self.server.get(&scope(), &key.0, &key.1).is_some_and(|v| v.stamp.op_id == op_id)
            || self.server.purged_stamp(&scope(), &key.0, &key.1).is_some_and(|s| s.op_id == op_id)
    }

    fn retry_failed(&mut self, r: usize) {
        let now = self.now;
        let failed: Vec<String> = self.replicas[r]
            .outbox
            .entries()
            .filter(|e| e.state == OpState::Failed)
            .map(|e| e.op.stamp.op_id.clone())
            .collect();
        for op_id in failed {
            self.replicas[r].outbox.retry(&op_id, now).unwrap();
        }
    }

    fn step(&mut self) {
        let r = self.rng.gen_range(0..self.replicas.len());
        match self.rng.gen_range(0..100) {
            0..=34 => self.write(r),
            35..=54 => self.push(r),
            55..=72 => self.pull(r),
            73..=77 => self.deliver_in_transit(false),
            78..=81 => self.redeliver_stale_page(r),
            82..=87 => {
                let online = !self.replicas[r].online;
                self.replicas[r].online = online;
            }
            88..=90 => self.retry_failed(r),
            91..=93 => self.collect_local_tombstones(r),
            94 if self.chance(0.3) => self.reset_server(),
            _ => {
                let purged = self.server.collect_garbage(self.now);
                if purged > 0 {
                    trace(&("notes".into(), "k4".into()), || {
                        format!(
                            "t={} server purged {purged}, floor {}",
                            self.now,
                            self.server.stats(&scope()).floor
                        )
                    });
                }
            }
        }
        let ms = self.rng.gen_range(0..400);
        self.advance(ms);
    }

    /// The server loses everything (a new database, a new epoch). Pushes in the network reach
    /// the new one. From now on the model starts from what the devices hold: every version in
    /// their stores, outboxes and pushes on the way.
    fn reset_server(&mut self) {
        self.stats.resets += 1;
        self.generation += 1;
        let mut held = Vec::new();
        for replica in &self.replicas {
            for (key, v) in &replica.records {
                held.push((key.clone(), v.stamp.clone(), v.op, v.payload.clone()));
            }
            for entry in replica.outbox.entries() {
                let op = &entry.op;
                held.push((
                    (op.table_name.clone(), op.pk.clone()),
                    op.stamp.clone(),
                    op.op,
                    op.payload.clone(),
                ));
            }
        }
        for transit in &self.in_transit {
            for op in &transit.batch {
                held.push((
                    (op.table_name.clone(), op.pk.clone()),
                    op.stamp.clone(),
                    op.op,
                    op.payload.clone(),
                ));
            }
        }
        trace(&("notes".into(), "k4".into()), || format!("t={} the server is reset", self.now));
        self.all_ops = held;
        self.server =
            MemoryServer::new(*self.server.config()).with_epoch(format!("epoch-{}", self.generation));
    }

    fn catch_up(&mut self, r: usize) {
        self.pull(r);
        for _ in 0..1000 {
            if !self.replicas[r].cursor.needs_full_pull() {
                break;
            }
            self.pull(r);
        }
    }

    /// Everyone online, no more faults: sync until nothing moves.
    fn settle(&mut self) -> Result<(), String> {
        self.faults = false;
        for replica in &mut self.replicas {
            replica.online = true;
        }
        for round in 0..200 {
            self.deliver_in_transit(true);
            for r in 0..self.replicas.len() {
                self.catch_up(r);
                self.retry_failed(r);
                self.advance(6_000); // every backoff is due
                for _ in 0..1000 {
                    if self.replicas[r].outbox.is_empty() {
                        break;
                    }
                    self.push(r);
                    self.deliver_in_transit(true);
                    self.advance(6_000);
                }
                if !self.replicas[r].outbox.is_empty() {
                    return Err(format!(
                        "{} cannot empty its outbox: {:?}",
                        self.replicas[r].device_id,
                        self.replicas[r].outbox.entries().collect::<Vec<_>>()
                    ));
                }
            }
            for r in 0..self.replicas.len() {
                self.catch_up(r);
            }
            let head = self.server.stats(&scope()).version;
            let quiet = self
                .replicas
                .iter()
                .all(|r| r.outbox.is_empty() && r.cursor.cursor == head && !r.cursor.needs_full_pull());
            if quiet && round > 0 {
                return Ok(());
            }
        }
        let head = self.server.stats(&scope());
        let states: Vec<_> = self.replicas.iter().map(|r| (r.cursor, r.outbox.len())).collect();
        Err(format!("replicas did not settle in 200 rounds: server {head:?}, replicas {states:?}"))
    }

    fn check(&self) -> Result<(), String> {
        // The model: for every record, the greatest version ever written by anyone.
        let mut model: BTreeMap<Key, (ChangeStamp, OpKind, Option<Value>)> = BTreeMap::new();
        for (key, stamp, op, payload) in &self.all_ops {
            let better = match model.get(key) {
                None => true,
                Some((s, o, _)) => {
                    compare_versions(VersionRef::new(stamp, *op), VersionRef::new(s, *o)) == Ordering::Greater
                }
            };
            if better {
                model.insert(key.clone(), (stamp.clone(), *op, payload.clone()));
            }
        }
        let expected: BTreeMap<Key, (String, Option<Value>)> = model
            .into_iter()
            .filter(|(_, (_, op, _))| *op == OpKind::Put)
            .map(|(k, (s, _, p))| (k, (s.op_id, p)))
            .collect();
        let server: BTreeMap<Key, (String, Option<Value>)> = self
            .server
            .live_records(&scope())
            .into_iter()
            .map(|(t, k, v)| ((t, k), (v.stamp.op_id.clone(), v.payload.clone())))
            .collect();
        if server != expected {
            if std::env::var("SYNCLANE_SIM_DEBUG").is_ok() {
                for (key, stamp, op, _) in &self.all_ops {
                    if server.get(key) != expected.get(key) {
                        eprintln!(
                            "{key:?} {op:?} {stamp:?} on server: {:?}",
                            self.server.get(&scope(), &key.0, &key.1).map(|v| (&v.stamp, v.op))
                        );
                    }
                }
            }
            return Err(format!(
                "server differs from the model:\nserver   {server:?}\nexpected {expected:?}"
            ));
        }
        for replica in &self.replicas {
            let live: BTreeMap<Key, (String, Option<Value>)> = replica
                .records
                .iter()
                .filter(|(_, v)| v.op == OpKind::Put)
                .map(|(k, v)| (k.clone(), (v.stamp.op_id.clone(), v.payload.clone())))
                .collect();
            if live != expected {
                return Err(format!(
                    "{} differs from the model:\nreplica  {live:?}\nexpected {expected:?}",
                    replica.device_id
                ));
            }
        }
        Ok(())
    }
}

fn network_error() -> SyncError {
    SyncError::new(ErrorCode::Network, "connection lost")
}

fn run_seed(seed: u64) -> Result<Stats, String> {
    let mut world = World::new(seed);
    let steps = world.rng.gen_range(100..300);
    for _ in 0..steps {
        world.step();
    }
    world.settle()?;
    world.check()?;
    Ok(world.stats)
}

#[test]
fn replicas_converge_under_faults() {
    let seeds: Vec<u64> = match std::env::var("SYNCLANE_SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("SYNCLANE_SIM_SEED must be a number")],
        Err(_) => {
            let count =
                std::env::var("SYNCLANE_SIM_SEEDS").ok().and_then(|n| n.parse().ok()).unwrap_or(500u64);
            (0..count).collect()
        }
    };
    let mut totals = Stats::default();
    for &seed in &seeds {
        match std::panic::catch_unwind(|| run_seed(seed)) {
            Ok(Ok(stats)) => {
                totals.rescans += stats.rescans;
                totals.expired += stats.expired;
                totals.resets += stats.resets;
                totals.reset_rescans += stats.reset_rescans;
                totals.lost_requests += stats.lost_requests;
                totals.lost_responses += stats.lost_responses;
                totals.duplicates += stats.duplicates;
                totals.stale_pages += stats.stale_pages;
                totals.conflicts += stats.conflicts;
            }
            Ok(Err(message)) => panic!("seed {seed} failed (replay: SYNCLANE_SIM_SEED={seed} cargo test --test simulation): {message}"),
            Err(_) => panic!("seed {seed} panicked (replay: SYNCLANE_SIM_SEED={seed} cargo test --test simulation)"),
        }
    }
    println!("{} seeds converged; faults exercised: {totals:?}", seeds.len());
    // The run must actually exercise the faults it claims to survive.
    if seeds.len() >= 100 {
        assert!(totals.rescans > 0 && totals.expired > 0, "no cursor expiry happened: {totals:?}");
        assert!(totals.resets > 0 && totals.reset_rescans > 0, "no server reset happened: {totals:?}");
        assert!(totals.lost_responses > 0 && totals.duplicates > 0 && totals.stale_pages > 0, "{totals:?}");
        assert!(totals.conflicts > 0, "{totals:?}");
    }
}
