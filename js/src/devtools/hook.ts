/**
 * The page side of the devtools: a registry of the page's engines at
 * `globalThis.__SYNCLANE_DEVTOOLS__`, each with a ring buffer of its latest hook events.
 *
 * `installDevtoolsHook(engine)` registers an engine (a second call for the same engine does
 * nothing); closing the engine removes it. The registry is shared by every copy of synclane
 * loaded in the page (it lives on `globalThis`), is itself a `DevtoolsSource`, and answers the
 * Chrome DevTools extension, which can only `eval` expressions, through `call` (synchronous
 * methods) and `request`/`take` (asynchronous ones).
 *
 * Set `globalThis.__SYNCLANE_DEVTOOLS__ = false` before opening engines to turn it off.
 *
 * @module
 */

import { errorSummary, summarize } from './summary.js';
import type {
  DevtoolsEvent,
  DevtoolsEventsPage,
  DevtoolsInspectOptions,
  DevtoolsMethod,
  DevtoolsRegistry,
  DevtoolsResponse,
  EngineInspection,
  EngineSummary,
  InspectableEngine,
} from './types.js';

/** The global the registry lives at. */
export const DEVTOOLS_GLOBAL = '__SYNCLANE_DEVTOOLS__';

/** How many events each engine keeps. */
export const DEVTOOLS_EVENT_CAPACITY = 1000;

const MAX_OUTBOX_LIMIT = 1000;
const MAX_CONFLICT_LIMIT = 500;
const MAX_STORED_RESPONSES = 256;
const RESPONSE_TTL_MS = 60_000;
/** Outbox payloads in `inspect` answers: a preview (the panel shows it as a tooltip). */
const PAYLOAD_LIMITS = { maxDepth: 3, maxItems: 5, maxKeys: 12, maxString: 80, maxNodes: 60 };
/** Recorded events: enough to read, and at most ~10 KB each however big the payload (1,000 are kept). */
const EVENT_LIMITS = { maxDepth: 5, maxItems: 5, maxKeys: 20, maxString: 100, maxNodes: 100 };

/** An error of the registry, with a `code` like the engine's errors. */
export class DevtoolsError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'DevtoolsError';
    this.code = code;
  }
}

interface Entry {
  readonly id: string;
  readonly engine: InspectableEngine;
  /** `ring[seq % capacity]`. */
  readonly ring: Array<DevtoolsEvent | undefined>;
  seq: number;
  detach: () => void;
}

type GlobalSlot = { [DEVTOOLS_GLOBAL]?: DevtoolsRegistry | false };

/**
 * The page's registry, created when `create` is set and there is none yet. `undefined` when
 * there is none, or when the page turned the devtools off (`__SYNCLANE_DEVTOOLS__ = false`).
 */
export function getDevtoolsRegistry(create = false): DevtoolsRegistry | undefined {
  const slot = globalThis as GlobalSlot;
  const existing = slot[DEVTOOLS_GLOBAL];
  if (existing === false) return undefined;
  if (existing && typeof existing === 'object' && typeof existing.register === 'function') return existing;
  if (!create) return undefined;
  const registry = createDevtoolsRegistry();
  Object.defineProperty(globalThis, DEVTOOLS_GLOBAL, { value: registry, configurable: true, writable: true, enumerable: false });
  return registry;
}

/**
 * Registers `engine` with the page's devtools registry and starts recording its hook events.
 * Calling it again for the same engine does nothing. Returns the engine's id, or `undefined`
 * when the page turned the devtools off.
 */
export function installDevtoolsHook(engine: InspectableEngine): string | undefined {
  return getDevtoolsRegistry(true)?.register(engine);
}

/**
 * A new registry, not attached to the page (`getDevtoolsRegistry(true)` makes the page's one).
 * Useful to inspect an engine privately when the page turned the global registry off.
 */
export function createDevtoolsRegistry(): DevtoolsRegistry {
  const session = Math.random().toString(36).slice(2, 8);
  let counter = 0;
  const entries = new Map<string, Entry>();
  const byEngine = new Map<InspectableEngine, Entry>();
  const responses = new Map<string, { response: DevtoolsResponse; at: number }>();

  const entryOf = (engineId: unknown): Entry => {
    const entry = typeof engineId === 'string' ? entries.get(engineId) : undefined;
    if (!entry) throw new DevtoolsError('unknown_engine', `no engine "${String(engineId)}" is registered (closed, or the page reloaded)`);
    return entry;
  };

  const record = (entry: Entry, name: string, payload: unknown): void => {
    entry.seq += 1;
    entry.ring[entry.seq % DEVTOOLS_EVENT_CAPACITY] = { seq: entry.seq, at: Date.now(), name, payload: summarize(payload, EVENT_LIMITS) };
  };

  const unregister = (engineId: string): void => {
    const entry = entries.get(engineId);
    if (!entry) return;
    entries.delete(engineId);
    byEngine.delete(entry.engine);
    entry.detach();
  };

  const register = (engine: InspectableEngine): string => {
    const known = byEngine.get(engine);
    if (known) return known.id;
    counter += 1;
    const entry: Entry = { id: `${session}-${counter}`, engine, ring: new Array(DEVTOOLS_EVENT_CAPACITY), seq: 0, detach: () => undefined };
    entries.set(entry.id, entry);
    byEngine.set(engine, entry);

    let offHooks: (() => void) | undefined;
    let detached = false;
    const listen = (): void => {
      if (detached || offHooks) return;
      const hooks = engine.hooks as InspectableEngine['hooks'] | undefined;
      if (typeof hooks?.onAny !== 'function') return;
      offHooks = hooks.onAny((name, payload) => {
        try {
          record(entry, name, payload);
        } catch {
          // Recording must never disturb the engine.
        }
      });
    };
    listen();
    // Registered from a constructor before `hooks` was set: listen once it is.
    if (!offHooks) queueMicrotask(listen);

    // Closing the engine removes it from the registry.
    const ownClose = Object.prototype.hasOwnProperty.call(engine, 'close');
    const close = engine.close;
    const closeAndForget = function (this: InspectableEngine): Promise<void> {
      unregister(entry.id);
      return close.call(this);
    };
    try {
      Object.defineProperty(engine, 'close', { value: closeAndForget, configurable: true, writable: true, enumerable: false });
    } catch {
      // A frozen engine: a failed inspect with `closed` removes it instead.
    }
    entry.detach = () => {
      detached = true;
      offHooks?.();
      if ((engine as { close: unknown }).close === closeAndForget) {
        try {
          if (ownClose) Object.defineProperty(engine, 'close', { value: close, configurable: true, writable: true });
          else delete (engine as { close?: unknown }).close;
        } catch {
          // Left wrapped: unregistering twice is harmless.
        }
      }
    };
    return entry.id;
  };

  const enginesNow = (): EngineSummary[] =>
    [...entries.values()].map(({ id, engine }) => ({
      id,
      workspaceId: read(() => engine.workspaceId, ''),
      deviceId: read(() => engine.deviceId, ''),
      dbName: read(() => engine.dbName, ''),
      isSyncLeader: read(() => engine.isSyncLeader, false),
    }));

  const eventsNow = (engineId: unknown, afterSeq: unknown): DevtoolsEventsPage => {
    const entry = entryOf(engineId);
    const after = typeof afterSeq === 'number' && afterSeq >= 0 && afterSeq <= entry.seq ? Math.floor(afterSeq) : 0;
    const oldest = Math.max(1, entry.seq - DEVTOOLS_EVENT_CAPACITY + 1);
    const from = Math.max(after + 1, oldest);
    const events: DevtoolsEvent[] = [];
    for (let seq = from; seq <= entry.seq; seq++) {
      const event = entry.ring[seq % DEVTOOLS_EVENT_CAPACITY];
      if (event) events.push(event);
    }
    return { seq: entry.seq, events, dropped: from - (after + 1) };
  };

  const inspect = async (engineId: unknown, options?: Partial<DevtoolsInspectOptions>): Promise<EngineInspection> => {
    const entry = entryOf(engineId);
    let view: EngineInspection;
    try {
      view = await entry.engine.inspect({
        outboxLimit: clamp(options?.outboxLimit, 200, MAX_OUTBOX_LIMIT),
        conflictLimit: clamp(options?.conflictLimit, 50, MAX_CONFLICT_LIMIT),
      });
    } catch (error) {
      if ((error as { code?: unknown } | null)?.code === 'closed') unregister(entry.id);
      throw error;
    }
    return {
      ...view,
      outbox: {
        ...view.outbox,
        entries: view.outbox.entries.map((e) => (e.payload === undefined ? e : { ...e, payload: summarize(e.payload, PAYLOAD_LIMITS) as typeof e.payload })),
      },
    };
  };

  const methods: Record<DevtoolsMethod, (...args: unknown[]) => Promise<unknown>> = {
    engines: async () => enginesNow(),
    events: async (engineId, afterSeq) => eventsNow(engineId, afterSeq),
    inspect: (engineId, options) => inspect(engineId, options as Partial<DevtoolsInspectOptions> | undefined),
    retryOp: async (engineId, opId) => {
      await entryOf(engineId).engine.retryOp(String(opId));
    },
    discardOp: async (engineId, opId) => {
      await entryOf(engineId).engine.discardOp(String(opId));
    },
  };

  const registry: DevtoolsRegistry = {
    version: 1,
    register,
    unregister,
    idOf: (engine) => byEngine.get(engine)?.id,
    engines: () => methods.engines() as Promise<EngineSummary[]>,
    inspect: (engineId, options) => inspect(engineId, options),
    events: (engineId, afterSeq) => methods.events(engineId, afterSeq) as Promise<DevtoolsEventsPage>,
    retryOp: (engineId, opId) => methods.retryOp(engineId, opId) as Promise<void>,
    discardOp: (engineId, opId) => methods.discardOp(engineId, opId) as Promise<void>,
    call(method, args) {
      if (method === 'engines') return enginesNow();
      if (method === 'events') return eventsNow(args[0], args[1]);
      throw new DevtoolsError('unknown_method', `"${String(method)}" cannot be called synchronously`);
    },
    request(requestId, method, args) {
      const now = Date.now();
      for (const [id, stored] of responses) {
        if (responses.size < MAX_STORED_RESPONSES && now - stored.at < RESPONSE_TTL_MS) break;
        responses.delete(id);
      }
      const set = (response: DevtoolsResponse): void => {
        if (responses.has(requestId)) responses.set(requestId, { response, at: Date.now() });
      };
      responses.set(requestId, { response: { state: 'pending' }, at: now });
      const run = Object.prototype.hasOwnProperty.call(methods, method) ? methods[method] : undefined;
      (run ? run(...(Array.isArray(args) ? args : [])) : Promise.reject(new DevtoolsError('unknown_method', `no method "${String(method)}"`))).then(
        (value) => set({ state: 'done', ok: true, value: value ?? null }),
        (error: unknown) => set({ state: 'done', ok: false, error: errorSummary(error) }),
      );
      return true;
    },
    take(requestId) {
      const stored = responses.get(requestId);
      if (!stored) return { state: 'unknown' };
      if (stored.response.state === 'done') responses.delete(requestId);
      return stored.response;
    },
  };
  return registry;
}

function read<T>(get: () => T, fallback: T): T {
  try {
    return get() ?? fallback;
  } catch {
    return fallback;
  }
}

function clamp(value: unknown, fallback: number, max: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? Math.max(0, Math.min(max, Math.floor(value))) : fallback;
}
