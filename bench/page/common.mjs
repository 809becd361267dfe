// What every contender of the benchmark shares: the records, the remote changes (the same
// for everyone, generated from the run's base time), a hybrid logical clock in the engine's
// string format, the conflict rule, the pull/push protocol over fetch, and timing helpers.

export const TABLE = 'notes';

const LOREM =
  'Local-first apps read and write a local database instantly and sync every change to every other device of the workspace.';

/** A record of about 180 bytes of JSON; only primitive fields, so every contender stores it as is. */
export function record(i, version = 0) {
  return {
    id: `r${i}`,
    title: `Note ${i} v${version}`,
    body: `${LOREM.slice(0, 60 + ((i * 7) % 60))} #${version}`,
    n: i,
    done: (i + version) % 3 === 0,
  };
}

// ---- the engine's HLC string: 16 hex digits of NTP64 time, '-', 16 hex digits of a clock id.

function hex16(value) {
  return value.toString(16).padStart(16, '0');
}

/** The HLC string of a physical time (the format of synclane's `hlcAt`). */
export function hlcAt(ms, clockId, logical = 0) {
  const whole = Math.floor(ms);
  const seconds = BigInt(Math.floor(whole / 1000));
  const fraction = (BigInt(whole % 1000) << 32n) / 1000n + BigInt(logical);
  return `${hex16((seconds << 32n) | fraction)}-${hex16(clockId)}`;
}

/** A device clock for the hand-written contenders: the wall clock plus a logical counter. */
export class Hlc {
  #clockId;
  #lastMs = 0;
  #logical = 0;
  constructor(clockId) {
    this.#clockId = BigInt(clockId);
  }
  now() {
    const ms = Date.now();
    if (ms > this.#lastMs) {
      this.#lastMs = ms;
      this.#logical = 0;
    } else {
      this.#logical += 1;
    }
    return hlcAt(this.#lastMs, this.#clockId, this.#logical);
  }
}

/**
 * The conflict rule (as the core's `conflict.rs`): the higher clock wins, then the higher hlc
 * string, then deviceId, then opId, then a delete over a put. True when `a` beats `b`.
 */
export function beats(a, aDeleted, b, bDeleted) {
  if (a.clock !== b.clock) return a.clock > b.clock;
  if (a.hlc !== b.hlc) return a.hlc > b.hlc;
  if (a.deviceId !== b.deviceId) return a.deviceId > b.deviceId;
  if (a.opId !== b.opId) return a.opId > b.opId;
  return aDeleted && !bDeleted;
}

// ---- the remote scenario's data: identical for every contender.

export const REMOTE_BASE = 5000;
export const REMOTE_CHANGES = 10000;
export const REMOTE_BATCH = 500;

/**
 * The 5,000 base records (server versions 1..5000, clock 1, written 2 h before `baseMs`) and
 * 10,000 remote changes (versions 5001..15000, in batches of 500), alternating between:
 * - the 5,000 existing records, by j % 5: 0 and 1 a put with clock 2 (wins by clock), 2 a
 *   delete with clock 2 (a tombstone wins), 3 a put with clock 1 and a later hlc (wins by hlc),
 *   4 a put with clock 1 and an earlier hlc (loses: the local version stays);
 * - 5,000 records never seen: puts, and every tenth a delete (a tombstone of an unknown record).
 * 9,000 changes win; the end state is `EXPECTED_REMOTE`.
 */
export function remoteData(baseMs) {
  const t0 = baseMs - 2 * 3600_000;
  const t1 = baseMs - 3600_000;
  const tEarly = baseMs - 3 * 3600_000;
  const base = [];
  for (let i = 0; i < REMOTE_BASE; i++) {
    base.push({
      tableName: TABLE, pk: `r${i}`, op: 'put', payload: record(i, 0), serverVersion: i + 1,
      stamp: { clock: 1, hlc: hlcAt(t0 + i, 0xa), deviceId: 'remote-a', opId: `a-${i}` },
    });
  }
  const changes = [];
  for (let k = 0; k < REMOTE_CHANGES; k++) {
    const serverVersion = REMOTE_BASE + k + 1;
    const opId = `b-${k}`;
    if (k % 2 === 0) {
      const j = k / 2;
      const kind = j % 5;
      const stamp = { clock: kind === 3 || kind === 4 ? 1 : 2, hlc: hlcAt((kind === 4 ? tEarly : t1) + k, 0xb), deviceId: 'remote-b', opId };
      changes.push(kind === 2
        ? { tableName: TABLE, pk: `r${j}`, op: 'delete', serverVersion, stamp }
        : { tableName: TABLE, pk: `r${j}`, op: 'put', payload: record(j, 1), serverVersion, stamp });
    } else {
      const j = REMOTE_BASE + (k - 1) / 2;
      const stamp = { clock: 1, hlc: hlcAt(t1 + k, 0xb), deviceId: 'remote-b', opId };
      changes.push(j % 10 === 0
        ? { tableName: TABLE, pk: `r${j}`, op: 'delete', serverVersion, stamp }
        : { tableName: TABLE, pk: `r${j}`, op: 'put', payload: record(j, 1), serverVersion, stamp });
    }
  }
  return { base, changes, batches: chunk(changes, REMOTE_BATCH), baseBatches: chunk(base, REMOTE_BATCH), t0, t1, tEarly };
}

/** What every contender must hold after the remote scenario (checked, so nobody skips work). */
export const EXPECTED_REMOTE = {
  // base 5,000 - 1,000 deleted + 4,500 new puts
  live: REMOTE_BASE - 1000 + 4500,
  // 1,000 deleted base records + 500 deletes of unknown records
  tombstones: 1500,
  cursor: REMOTE_BASE + REMOTE_CHANGES,
};

export function chunk(array, size) {
  const out = [];
  for (let i = 0; i < array.length; i += size) out.push(array.slice(i, i + size));
  return out;
}

// ---- the reference server's protocol over fetch (for the hand-written contenders).

export async function httpPull(url, token, body) {
  const response = await fetch(`${url}/v1/pull`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`pull: ${response.status} ${await response.text()}`);
  return response.json();
}

/** Pushes a batch; resolves to `{ result, bytes }` (bytes: the request body sent). */
export async function httpPush(url, token, batch) {
  const text = JSON.stringify(batch);
  const response = await fetch(`${url}/v1/push`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: text,
  });
  if (!response.ok) throw new Error(`push: ${response.status} ${await response.text()}`);
  return { result: await response.json(), bytes: new TextEncoder().encode(text).length };
}

/** A `fetch` that counts what it sends to `/v1/push` (requests, ops, body bytes). */
export function countingFetch(counts) {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input.url;
    if (url.endsWith('/v1/push') && typeof init?.body === 'string') {
      counts.pushes += 1;
      counts.ops += JSON.parse(init.body).ops.length;
      counts.bytes += new TextEncoder().encode(init.body).length;
    }
    return fetch(input, init);
  };
}

// ---- timing.

export const now = () => performance.now();

export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Watches the main thread while `work` runs: long tasks (PerformanceObserver 'longtask', tasks
 * over 50 ms) and the lateness of a chain of setTimeout(0) (the longest gap the page could not
 * run anything). Resolves to `{ value, longestTaskMs, longTasks, maxTimerLatenessMs }`.
 */
export async function watchMainThread(work) {
  const longTasks = [];
  let observer;
  try {
    observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) longTasks.push(entry.duration);
    });
    observer.observe({ type: 'longtask' });
  } catch {
    observer = undefined;
  }
  let running = true;
  let maxLateness = 0;
  let last = now();
  const tick = () => {
    const t = now();
    // setTimeout(0) is clamped to 4 ms once nested: lateness is what exceeds that.
    maxLateness = Math.max(maxLateness, t - last - 4);
    last = t;
    if (running) setTimeout(tick, 0);
  };
  setTimeout(tick, 0);
  try {
    const value = await work();
    await sleep(20);
    return {
      value,
      longTaskObserver: observer !== undefined,
      longestTaskMs: longTasks.length ? Math.max(...longTasks) : 0,
      longTasks: longTasks.length,
      maxTimerLatenessMs: Math.max(0, maxLateness),
    };
  } finally {
    running = false;
    observer?.disconnect();
  }
}

/** Deletes an IndexedDB database and waits for it. */
export function deleteDb(name) {
  return new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(name);
    request.onsuccess = request.onerror = request.onblocked = () => resolve();
  });
}
