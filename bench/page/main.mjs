// The benchmark's page: `window.bench.run(contender, scenario, params)` runs one measurement
// and resolves to its figures (plain JSON). bench/run.mjs opens a fresh page for each one.
import { Floor } from './floor.mjs';
import { DexieSync } from './dexie.mjs';
import { TinyBase, tinybaseRemoteData } from './tinybase.mjs';
import { Synclane, SynclaneCore, wasmMemoryBytes, initSynclane, initMemoryServer, HttpSyncProvider, MemorySyncProvider, MemorySyncServer, countingFetch } from './synclane.mjs';
import { EXPECTED_REMOTE, TABLE, deleteDb, now, percentile, record, remoteData, watchMainThread, chunk } from './common.mjs';

const OPENERS = {
  synclane: (name, options) => Synclane.open(name, options),
  floor: (name) => Floor.open(name),
  dexie: (name) => DexieSync.open(name),
  tinybase: (name) => TinyBase.open(name),
};

const unsupported = (why) => ({ unsupported: why });

/** One record per call through the contender's single-write API. */
const writeOne = (db, r) => (db.writeOne ? db.writeOne(r) : db.write([r]));

/** A deterministic sequence of record numbers in [0, n). */
function* randomIndexes(n, count, seed = 12345) {
  let x = seed;
  for (let i = 0; i < count; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    yield x % n;
  }
}

const stats = (values) => ({
  p50: percentile(values, 50),
  p95: percentile(values, 95),
  mean: values.reduce((a, b) => a + b, 0) / values.length,
  n: values.length,
});

const SCENARIOS = {
  /** `writes` single writes (each its own transaction, awaited), after `warmup` ones. */
  async singleWrite(contender, db, { writes = 200, warmup = 20 }) {
    for (let i = 0; i < warmup; i++) await writeOne(db, record(1_000_000 + i));
    const latencies = [];
    for (let i = 0; i < writes; i++) {
      const r = record(i);
      const t = now();
      await writeOne(db, r);
      latencies.push(now() - t);
    }
    const counts = await db.counts();
    return { ...stats(latencies), ok: counts.live === writes + warmup };
  },

  /** `singleWrite` for the floor's variant that reads what a write depends on first. */
  async singleWriteReading(contender, db, params) {
    return SCENARIOS.singleWrite(contender, { writeOne: (r) => db.writeOneReading(r), counts: () => db.counts() }, params);
  },

  /** `singleWriteReading` keeping the outbox totals too: all of synclane's storage work. */
  async singleWriteTotals(contender, db, params) {
    return SCENARIOS.singleWrite(contender, { writeOne: (r) => db.writeOneReading(r, { totals: true }), counts: () => db.counts() }, params);
  },

  /**
   * One batch of `size` writes in one transaction into a database holding 100 records, in
   * steady state: the same batch ran first on another database of the page. That first batch
   * (`firstMs`) is reported too: the page's code is still cold then (the wasm most of all,
   * which the engine optimises function by function as it runs).
   */
  async batchWrite(contender, db, { size = 1000 }, openAnother) {
    const once = async (target) => {
      await target.write(Array.from({ length: 100 }, (_, i) => record(1_000_000 + i)));
      const records = Array.from({ length: size }, (_, i) => record(i));
      const t = now();
      await target.write(records);
      return now() - t;
    };
    const first = await openAnother('first');
    let firstMs;
    try {
      firstMs = await once(first);
    } finally {
      await first.close();
    }
    const ms = await once(db);
    const counts = await db.counts();
    return { ms, firstMs, ok: counts.live === size + 100 };
  },

  /** 10,000 remote changes in batches of 500 over 5,000 local records (see common.mjs). */
  async remoteApply(contender, db, { baseMs }) {
    if (contender === 'tinybase') {
      const { baseBatches, batches } = tinybaseRemoteData(baseMs);
      for (const changes of baseBatches) db.store.applyMergeableChanges(changes);
      await db.persister.save();
      const t = now();
      for (const [fromRemote, fromEarly] of batches) {
        db.store.applyMergeableChanges(fromRemote);
        db.store.applyMergeableChanges(fromEarly);
        await db.persister.save();
      }
      const ms = now() - t;
      const live = db.store.getRowCount(TABLE);
      return { ms, live, ok: live === EXPECTED_REMOTE.live };
    }
    const { baseBatches, batches } = remoteData(baseMs);
    const apply = async (list) => {
      let applied = 0;
      for (const [i, changes] of list.entries()) {
        applied += await db.applyRemote(changes, changes.at(-1).serverVersion, i < list.length - 1);
      }
      return applied;
    };
    await apply(baseBatches);
    const t = now();
    const applied = await apply(batches);
    const ms = now() - t;
    const counts = await db.counts();
    const ok = counts.live === EXPECTED_REMOTE.live && counts.tombstones === EXPECTED_REMOTE.tombstones && counts.cursor === EXPECTED_REMOTE.cursor;
    return { ms, applied, ...counts, ok };
  },

  /** `writes` single writes cycling over `records` records, then a flush to the server. */
  async coalesce(contender, db, { url, token, workspaceId, writes = 10000, records = 100, maxOps = 200, sent }) {
    const t = now();
    for (let i = 0; i < writes; i++) await writeOne(db, record(i % records, 1 + Math.floor(i / records)));
    const writeMs = now() - t;
    const t2 = now();
    let pushed;
    if (contender === 'synclane') {
      const decision = await db.engine.syncNow();
      if (decision.report?.error) throw decision.report.error;
      pushed = sent;
    } else {
      pushed = await db.flush(url, token, workspaceId, maxOps);
    }
    const flushMs = now() - t2;
    const counts = await db.counts();
    return { ...pushed, writeMs, flushMs, outboxLeft: counts.outbox, ok: counts.outbox === 0 && counts.live === records };
  },

  /** `gets` reads by id (awaited one by one) and one getAll, over `records` records. */
  async reads(contender, db, { records = 10000, gets = 1000 }) {
    for (const ids of chunk(Array.from({ length: records }, (_, i) => i), 1000)) await db.write(ids.map((i) => record(i)));
    const latencies = [];
    for (const i of randomIndexes(records, gets)) {
      const t = now();
      const value = await db.get(`r${i}`);
      latencies.push(now() - t);
      if (!value) throw new Error(`r${i} not found`);
    }
    const t = now();
    const all = await db.getAll();
    const getAllMs = now() - t;
    const get = stats(latencies);
    return { getMeanMs: get.mean, getP50: get.p50, getP95: get.p95, getAllMs, ok: all.length === records };
  },

  /**
   * The floor only: the bootstrap's records put in transactions of `limit`, with nothing
   * else (no network, no reads): the ceiling of any bootstrap's rate on this machine.
   */
  async putCeiling(contender, db, { count, limit = 500 }) {
    if (contender !== 'floor') return unsupported('the floor alone measures the ceiling');
    const t = now();
    const records = await db.putOnly(count, limit, (i) => record(i));
    const ms = now() - t;
    return { ms, records, recordsPerSec: (records / ms) * 1000, ok: records === count };
  },

  /** A cold start against the reference server holding `expected` records. */
  async bootstrap(contender, db, { url, token, workspaceId, expected, limit = 500 }) {
    const wasmBefore = contender === 'synclane' ? await wasmMemoryBytes() : undefined;
    const t = now();
    const watched = await watchMainThread(async () => {
      if (contender === 'synclane') {
        const decision = await db.engine.syncNow();
        if (decision.report?.error) throw decision.report.error;
        return decision.report.pulled;
      }
      return db.bootstrap(url, token, workspaceId, limit);
    });
    const ms = now() - t - 20; // watchMainThread waits 20 ms after the work
    const wasmAfter = contender === 'synclane' ? await wasmMemoryBytes() : undefined;
    return {
      ms,
      records: watched.value,
      recordsPerSec: (watched.value / ms) * 1000,
      longestTaskMs: watched.longestTaskMs,
      longTasks: watched.longTasks,
      longTaskObserver: watched.longTaskObserver,
      maxTimerLatenessMs: watched.maxTimerLatenessMs,
      ...(wasmAfter !== undefined && { wasmMemoryBytes: wasmAfter, wasmMemoryBeforeBytes: wasmBefore }),
      ok: watched.value === expected,
    };
  },
};

/** Opens what the scenario needs, runs it, closes and deletes the databases. */
async function run(contender, scenario, params = {}) {
  const name = `bench-${contender}-${scenario}-${Math.random().toString(36).slice(2, 8)}`;
  if (scenario === 'remoteSyncNow') return remoteSyncNow(name, params);
  if (contender === 'tinybase' && (scenario === 'coalesce' || scenario === 'bootstrap')) {
    return unsupported(scenario === 'coalesce' ? 'no outbox: TinyBase syncs state, not ops' : "speaks its own sync protocol, not the reference server's");
  }
  let options = {};
  if (contender === 'synclane' && scenario === 'coalesce') {
    params.sent = { pushes: 0, ops: 0, bytes: 0 };
    options = { workspaceId: params.workspaceId, provider: new HttpSyncProvider({ url: params.url, token: params.token, fetch: countingFetch(params.sent) }) };
  } else if (contender === 'synclane' && scenario === 'bootstrap') {
    options = { workspaceId: params.workspaceId, provider: new HttpSyncProvider({ url: params.url, token: params.token, timeoutMs: 60_000 }) };
  }
  const db = contender === 'synclane' && scenario === 'remoteApply' ? await SynclaneCore.open(name) : await OPENERS[contender](name, options);
  try {
    const openAnother = (suffix) => OPENERS[contender](`${name}-${suffix}`, options);
    const result = await SCENARIOS[scenario](contender, db, params, openAnother);
    delete result.sent;
    return result;
  } finally {
    await db.close();
    await options.provider?.dispose?.();
    for (const info of await indexedDB.databases()) await deleteDb(info.name);
  }
}

/**
 * The remote changes end to end in synclane: a MemorySyncServer holds the 5,000 base records
 * (the engine bootstraps them, not timed), then receives the 10,000 changes (the losers are
 * superseded there, so 9,000 remain to pull); timed: `syncNow()` pulling and applying them in
 * pages of 500 with the sync loop, hooks and watchers.
 */
async function remoteSyncNow(name, { baseMs }) {
  await Promise.all([initSynclane(), initMemoryServer()]);
  const { base, changes } = remoteData(baseMs);
  const server = new MemorySyncServer({ maxPullLimit: 1000 });
  const toOp = ({ serverVersion, ...op }) => op;
  const push = (deviceId, list) => {
    for (const ops of chunk(list.map(toOp), 500)) server.push({ scope: { workspaceId: 'bench' }, deviceId, ops });
  };
  push('remote-a', base);
  const db = await Synclane.open(name, { provider: new MemorySyncProvider({ server }) });
  try {
    await db.engine.syncNow();
    push('remote-b', changes);
    const t = now();
    const decision = await db.engine.syncNow();
    const ms = now() - t;
    if (decision.report?.error) throw decision.report.error;
    const counts = await db.counts();
    return { ms, pulled: decision.report.pulled, applied: decision.report.applied, ...counts, ok: counts.live === EXPECTED_REMOTE.live && counts.tombstones === EXPECTED_REMOTE.tombstones };
  } finally {
    await db.close();
    server.free();
    for (const info of await indexedDB.databases()) await deleteDb(info.name);
  }
}

window.bench = { run, wasmMemoryBytes };
window.benchReady = true;
