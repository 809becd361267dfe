/**
 * What the steps of a sync job share: the engine's core and hooks, the loop's page size, and
 * what the job is doing now (read by error events and by the status view-model).
 *
 * @module
 */

import type { EngineCore } from '../wasm/synclane.js';
import type { HookEmitter } from '../hooks.js';
import type { PendingOp } from '../types/protocol.js';
import type { SyncHookMap, SyncHookName } from '../types/hooks.js';
import type { SyncPhase } from '../types/sync.js';

/** Tells the engine's watchers (and the other tabs) which records remote changes touched. */
export type Announce = (changes: Array<{ table: string; id: string }>) => void;

/** One engine's sync state that outlives a job; the loop owns it, the job's steps update it. */
export interface SyncSession {
  readonly core: EngineCore;
  readonly hooks: HookEmitter<SyncHookMap>;
  readonly announce: Announce;
  /** The core's, read once: it never changes. */
  readonly workspaceId: string;
  /** Changes per pull page. */
  readonly pullLimit: number;
  /** What the running job is doing, for error events. */
  phase: SyncPhase;
  /** How far the running pull is, when the provider tells the total. */
  progress?: { current: number; total: number } | undefined;
}

/** What the core reports after applying remote changes. */
export interface ApplyReport {
  applied: Array<{ tableName: string; pk: string }>;
  conflicts: Array<{
    tableName: string;
    pk: string;
    local: { op: 'put' | 'delete'; stamp: PendingOp['stamp'] };
    winner: 'local' | 'remote';
    duringBootstrap: boolean;
  }>;
  echoes: number;
  identical: number;
  stale: number;
  /** How far ahead of the local clock the furthest stamp beyond the drift bound was (0 if none). */
  skewMs: number;
  cursor: { phase: string; cursor: number };
}

/** Lets the page breathe between pages: input and rendering run while a large set downloads. */
export const yieldToPage = (): Promise<unknown> => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Emits a hook about the session's workspace: every payload carries its `workspaceId`, first.
 * (The `sync.job.*` events name their job first, and pass their `workspaceId` themselves.)
 */
export function emit<K extends SyncHookName>(s: SyncSession, name: K, payload: Omit<SyncHookMap[K], 'workspaceId'>): void {
  s.hooks.emit(name, { workspaceId: s.workspaceId, ...payload } as SyncHookMap[K]);
}
