/**
 * The sync loop's vocabulary and results: why a sync was asked for, why it did not start, what
 * it was doing, what it did, and the status view-model the core derives. Declarations only,
 * shared by the loop, the engine and the hook payloads.
 *
 * @module
 */

import type { SyncError } from '../errors.js';

/** The engine activity an error, a request or a job belongs to. */
export type SyncPhase =
  | 'capture'
  | 'push'
  | 'pull'
  | 'subscribe'
  | 'apply'
  | 'bootstrap'
  | 'rescan'
  | 'cursor'
  | 'gc';

/** Why a sync was asked for (the core's `SyncTrigger` wire names). */
export type SyncTrigger = 'manual' | 'interval' | 'startup' | 'online' | 'localWrite' | 'visibility' | 'remote' | 'retry';

/** Why a sync did not start (the core's `DecisionReason` wire names, less `ready`). */
export type SyncBlockReason =
  | 'no_provider'
  | 'offline'
  | 'rate_limited'
  | 'already_syncing'
  | 'manual_cooldown'
  | 'recently_synced'
  | 'nothing_to_push'
  | 'debounced'
  | 'other_tab';

/** The state of the live subscription. */
export type SubscriptionStatus = 'connecting' | 'connected' | 'syncing' | 'disconnected';

/** The kinds of work the engine runs as jobs (see the `sync.job.*` events). */
export type SyncJobKind = 'sync' | 'push' | 'pull' | 'bootstrap' | 'rescan' | 'gc';

/** The policy's answer to a sync request. */
export interface SyncDecision {
  action: 'start' | 'skip' | 'block';
  reason: string;
  cooldownMs?: number;
  blockedUntilMs?: number;
}

/** What a started sync did. */
export interface SyncReport {
  trigger: SyncTrigger;
  pushed: number;
  pulled: number;
  applied: number;
  conflicts: number;
  cursor: number;
  error?: SyncError;
}

/** The status view-model (from the core). */
export interface SyncStatus {
  state: 'idle' | 'syncing' | 'blocked' | 'error';
  canSyncNow: boolean;
  cooldownMs?: number;
  blockedUntil?: number;
  progress?: { current: number; total: number };
  lastSyncedAt?: number;
  lastSyncError?: { code: string; message: string };
  pendingOps: number;
  failedOps: number;
  online: boolean;
}

/** Options of the loop. */
export interface SyncLoopOptions {
  pullLimit?: number;
  /** Sync this often while started (default 30 s; also the policy's freshness window). */
  intervalMs?: number;
  /** Minimum time between two manual syncs (default 5 s, the policy's cooldown). */
  manualCooldownMs?: number;
  /** Tombstones older than this and covered by the cursor are purged (default 7 days). */
  tombstoneRetentionMs?: number;
  /** Subscription reconnects before giving up (default 5). */
  subscriptionMaxRetries?: number;
  /** The outbox capacity in bytes, for the queue-full event (default 32 MiB). */
  outboxCapacityBytes?: number;
}
