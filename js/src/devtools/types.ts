/**
 * The contract between the devtools panel and whatever feeds it: the page itself (an engine
 * object, or the page's registry) or the Chrome DevTools extension (the inspected page's
 * registry through `chrome.devtools.inspectedWindow.eval`).
 *
 * @module
 */

import type { EngineInspection } from '../types/engine.js';
import type { SyncHookMap } from '../types/hooks.js';
import type { HookEmitter } from '../hooks.js';

export type { ConflictRecord, EngineInspection, OutboxEntry } from '../types/engine.js';

/** An engine the devtools can inspect. */
export interface EngineSummary {
  /** Opaque, unique within the page's lifetime. */
  id: string;
  workspaceId: string;
  deviceId: string;
  dbName: string;
  /** Whether this tab runs the engine's sync loop. */
  isSyncLeader: boolean;
}

/** One recorded hook event. */
export interface DevtoolsEvent {
  /** Increases by one per event of the engine. */
  seq: number;
  /** When it was emitted (Unix ms). */
  at: number;
  /** The hook name, e.g. `sync.push:action:after`. */
  name: string;
  /** A JSON-safe summary of the payload (see `summarize`). */
  payload: unknown;
}

/** The events after a sequence number. */
export interface DevtoolsEventsPage {
  /** The engine's latest sequence number: pass it as `afterSeq` next time. */
  seq: number;
  /** Oldest first. */
  events: DevtoolsEvent[];
  /** Events after `afterSeq` that already left the ring buffer. */
  dropped: number;
}

/** What one refresh (engines + inspect + render) did and how long it took. */
export interface DevtoolsCycleStats {
  engineId: string | undefined;
  /** Waiting for the source (`engines` + `inspect`), ms. */
  inspectMs: number;
  /** Updating the DOM, ms. */
  renderMs: number;
  /** What happened to the outbox rows. */
  rows: { created: number; updated: number; moved: number; removed: number; kept: number };
  outboxShown: number;
  outboxTotal: number;
  /** When the refresh failed. */
  error?: { code: string; message: string };
}

/** Options of {@link DevtoolsSource.inspect}. */
export interface DevtoolsInspectOptions {
  outboxLimit: number;
  conflictLimit: number;
}

/**
 * What the panel reads and does. Every method is asynchronous so that the same panel runs in
 * the page and in the DevTools extension.
 */
export interface DevtoolsSource {
  engines(): Promise<EngineSummary[]>;
  /** A bounded view (payloads as JSON-safe summaries). */
  inspect(engineId: string, options: DevtoolsInspectOptions): Promise<EngineInspection>;
  events(engineId: string, afterSeq: number): Promise<DevtoolsEventsPage>;
  retryOp(engineId: string, opId: string): Promise<void>;
  discardOp(engineId: string, opId: string): Promise<void>;
}

/** What the registry needs of an engine (a `SyncEngine` has all of it). */
export interface InspectableEngine {
  readonly workspaceId: string;
  readonly deviceId: string;
  readonly dbName: string;
  readonly isSyncLeader: boolean;
  readonly hooks: Pick<HookEmitter<SyncHookMap>, 'onAny'>;
  inspect(options?: { outboxLimit?: number; conflictLimit?: number }): Promise<EngineInspection>;
  retryOp(opId: string): Promise<void>;
  discardOp(opId: string): Promise<unknown>;
  close(): Promise<void>;
}

/** The methods of a {@link DevtoolsSource}, by name (what `request` accepts). */
export type DevtoolsMethod = keyof DevtoolsSource;

/** A settled (or not yet settled) request of {@link DevtoolsRegistry.request}. */
export type DevtoolsResponse =
  | { state: 'pending' }
  | { state: 'done'; ok: true; value: unknown }
  | { state: 'done'; ok: false; error: { code: string; message: string } }
  | { state: 'unknown' };

/**
 * The page's registry, at `globalThis.__SYNCLANE_DEVTOOLS__`. It is a {@link DevtoolsSource}
 * over every engine of the page, plus what `chrome.devtools.inspectedWindow.eval` needs, since
 * it cannot await: `call` answers the synchronous methods (`engines`, `events`) at once, and
 * `request` starts any method and stores its settled result for `take`. Every value it returns
 * is JSON-safe.
 */
export interface DevtoolsRegistry extends DevtoolsSource {
  readonly version: 1;
  /** Registers an engine (again: nothing happens) and returns its id. */
  register(engine: InspectableEngine): string;
  /** Forgets an engine (closing one does it). */
  unregister(engineId: string): void;
  /** The id of a registered engine. */
  idOf(engine: InspectableEngine): string | undefined;
  /** Answers `engines` or `events` synchronously. */
  call(method: 'engines' | 'events', args: unknown[]): unknown;
  /** Starts `method(...args)`; its result waits under `requestId` for `take`. */
  request(requestId: string, method: DevtoolsMethod, args: unknown[]): true;
  /** The result of a request, removed once settled and taken. */
  take(requestId: string): DevtoolsResponse;
}
