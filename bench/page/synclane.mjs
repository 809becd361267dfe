// The synclane contender: the built npm package (dist/npm/dist/index.js), through its public
// API. Remote batches go through `EngineCore.applyRemote`, the wasm method the sync loop calls
// for every pulled page (validation, the core's `decide_remote` for each change, records,
// tombstones, conflict log and cursor in one transaction); `remoteSyncNow` measures the same
// changes end to end through `syncNow()` with a MemorySyncProvider (pull + apply + hooks).
import { SyncEngine, HttpSyncProvider, initSynclane } from 'synclane';
import { MemorySyncProvider, MemorySyncServer, initMemoryServer } from 'synclane/memory';
import initWasm, { EngineCore } from 'synclane/wasm';
import { TABLE, countingFetch } from './common.mjs';

/** The wasm module's linear memory, in bytes (the module the package loaded: one instance per page). */
export async function wasmMemoryBytes() {
  await initSynclane();
  // wasm-bindgen's init returns the instance's exports once loaded (the same instance). The
  // build gives the exports short names, so the memory is found by its type.
  const exports = await initWasm();
  const memory = Object.values(exports).find((value) => value instanceof WebAssembly.Memory);
  return memory.buffer.byteLength;
}

export class Synclane {
  static async open(name, { provider, workspaceId = 'bench' } = {}) {
    const engine = await SyncEngine.open({
      workspaceId,
      dbName: name,
      tables: [TABLE],
      provider,
      deviceId: 'synclane-device',
      sync: { manualCooldownMs: 0 },
      onListenerError: (error) => {
        throw error;
      },
    });
    return new Synclane(engine, name);
  }

  constructor(engine, name) {
    this.engine = engine;
    this.name = name;
  }

  write(records) {
    return this.engine.batch(records.map((record) => ({ table: TABLE, op: 'put', record })));
  }

  writeOne(record) {
    return this.engine.put(TABLE, record);
  }

  get(id) {
    return this.engine.get(TABLE, id);
  }

  getAll() {
    return this.engine.getAll(TABLE);
  }

  async counts() {
    const view = await this.engine.inspect({ outboxLimit: 0, conflictLimit: 0 });
    const live = (await this.engine.getAll(TABLE)).length;
    return { live, tombstones: view.tombstones, cursor: view.cursor.cursor, outbox: view.outbox.totals.count };
  }

  async close() {
    await this.engine.close();
  }
}

/** The wasm core without the facade: what `SyncEngine`'s loop calls to apply a pulled page. */
export class SynclaneCore {
  static async open(name) {
    await initSynclane();
    const core = await EngineCore.open({ workspaceId: 'bench', dbName: name, tables: [{ name: TABLE }], deviceId: 'synclane-device' });
    return new SynclaneCore(core);
  }

  constructor(core) {
    this.core = core;
  }

  async applyRemote(changes, nextCursor, hasMore) {
    const report = await this.core.applyRemote(changes, nextCursor, hasMore);
    return report.applied.length;
  }

  async counts() {
    const view = await this.core.inspect({ outboxLimit: 0, conflictLimit: 0 });
    const live = (await this.core.getAll(TABLE, {})).length;
    return { live, tombstones: view.tombstones, cursor: view.cursor.cursor, outbox: view.outbox.totals.count };
  }

  close() {
    this.core.close();
  }
}

export { HttpSyncProvider, MemorySyncProvider, MemorySyncServer, countingFetch, initSynclane, initMemoryServer };
