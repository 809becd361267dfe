/**
 * The sync loop of one engine: it asks the core's policy before every sync, runs one sync job
 * at a time (catch up by pulling, bootstrap or rescan as the cursor needs, push the outbox),
 * and wakes itself for retries, rate limits, intervals, connectivity, visibility, remote
 * changes and local writes. Only the tab that holds the workspace's Web Lock runs it; the
 * others hand their writes over through the shared database and a BroadcastChannel.
 *
 * @module
 */

import type { EngineCore } from './wasm/synclane.js';
import { deriveStatus, evaluatePolicy } from './wasm/synclane.js';
import type { HookEmitter } from './hooks.js';
import { SyncError, isTransient, toSyncError } from './errors.js';
import type { PendingOp, PullResponse, PushResult, SyncChange, SyncProvider, SyncScope } from './types/protocol.js';
import type { SyncHookMap } from './types/hooks.js';
import type { SubscriptionStatus, SyncDecision, SyncLoopOptions, SyncPhase, SyncReport, SyncStatus, SyncTrigger } from './types/sync.js';

export type { SyncDecision, SyncLoopOptions, SyncReport, SyncStatus } from './types/sync.js';

/** The size of a bootstrap's first page (at most `pullLimit`). */
const FIRST_BOOTSTRAP_PAGE = 100;

interface PolicyState {
  hasProvider: boolean;
  online: boolean;
  syncing: boolean;
  blockedUntilMs?: number;
  lastManualRequestMs?: number;
  lastSyncCompletedMs?: number;
  lastSyncStartedMs?: number;
  pendingOps: number;
  follower: boolean;
}

interface ApplyReport {
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

type Announce = (changes: Array<{ table: string; id: string }>) => void;
/** Passes a request to the tab that runs the loop. */
type HandOver = (trigger: SyncTrigger) => void;

const RECONNECT_MS = [250, 1000, 3000, 5000];
const MAX_RESCAN_RESTARTS = 3;

/** Runs sync for one engine. */
export class SyncRunner {
  #core: EngineCore;
  #hooks: HookEmitter<SyncHookMap>;
  #provider: () => SyncProvider | undefined;
  #announce: Announce;
  #handOver: HandOver;
  #tables: string[];
  #options: Required<SyncLoopOptions>;
  #state: PolicyState = { hasProvider: false, online: true, syncing: false, pendingOps: 0, follower: false };
  #lastError: SyncError | undefined;
  #progress: { current: number; total: number } | undefined;
  #running: Promise<SyncReport> | undefined;
  #jobs = 0;
  #started = false;
  /**
   * Counts starts and stops. Whatever the loop set off itself (a takeover, a timer, a
   * subscription, a follow-up sync, GC) carries the generation it was set off in and does
   * nothing once a stop() or a later start() moved past it.
   */
  #generation = 0;
  #leader = false;
  #releaseLock: (() => void) | undefined;
  /** Withdraws the lock request of a start() still waiting for the lock. */
  #abortLock: AbortController | undefined;
  /** The last stop(), until it released the lock: a start() meanwhile waits for it. */
  #stopping: Promise<void> | undefined;
  /** Requests, takeovers and GC runs under way: stop() waits for them all. */
  #pending = new Set<Promise<unknown>>();
  #cancelIdle: (() => void) | undefined;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #interval: ReturnType<typeof setInterval> | undefined;
  #unsubscribe: (() => void) | undefined;
  #subscription: SubscriptionStatus = 'disconnected';
  #lastGc = 0;
  /** Whether this engine checked for ops a dead page left in flight (see #recoverOrphans). */
  #orphansChecked = false;
  /** A request that came while a sync ran, to honour once it ends (it may have pulled too early). */
  #rerun: SyncTrigger | undefined;
  /** What the running job is doing, for error events. */
  #phase: SyncPhase = 'pull';
  #detach: Array<() => void> = [];

  constructor(
    core: EngineCore,
    hooks: HookEmitter<SyncHookMap>,
    provider: () => SyncProvider | undefined,
    tables: string[],
    announce: Announce,
    handOver: HandOver,
    options: SyncLoopOptions = {},
  ) {
    this.#handOver = handOver;
    this.#core = core;
    this.#hooks = hooks;
    this.#provider = provider;
    this.#tables = tables;
    this.#announce = announce;
    this.#options = {
      pullLimit: options.pullLimit ?? 500,
      intervalMs: options.intervalMs ?? 30_000,
      manualCooldownMs: options.manualCooldownMs ?? 5_000,
      tombstoneRetentionMs: options.tombstoneRetentionMs ?? 7 * 24 * 3600 * 1000,
      subscriptionMaxRetries: options.subscriptionMaxRetries ?? 5,
      outboxCapacityBytes: options.outboxCapacityBytes ?? 32 * 1024 * 1024,
    };
  }

  get #workspaceId(): string {
    return this.#core.workspaceId;
  }

  get #policyConfig() {
    return { manualCooldownMs: this.#options.manualCooldownMs, intervalMs: this.#options.intervalMs };
  }

  /** The Web Lock held by the tab that runs the loop for this database. */
  get #lockName(): string {
    return `synclane:sync:${this.#core.dbName}`;
  }

  /** The outbox size last seen (after the last write or sync request). */
  get lastKnownPendingOps(): number {
    return this.#state.pendingOps;
  }

  /** Whether this tab runs the loop (holds the workspace's lock). */
  get isLeader(): boolean {
    return this.#leader;
  }

  /** Brings the policy state up to date; resolves to the outbox totals it read. */
  async #refreshState(): Promise<{ count: number; bytes: number; failed: number }> {
    this.#state.hasProvider = this.#provider() !== undefined;
    this.#state.online = typeof navigator === 'undefined' || navigator.onLine !== false;
    // Started but without the lock: another tab runs the loop, and it alone pushes.
    this.#state.follower = this.#started && !this.#leader;
    const totals = await this.outboxTotals();
    this.#state.pendingOps = totals.count;
    return totals;
  }

  /** The outbox's running totals: one row read, whatever the outbox holds. */
  async outboxTotals(): Promise<{ count: number; bytes: number; failed: number }> {
    const view = (await this.#core.inspect({ outboxLimit: 0, conflictLimit: 0 })) as {
      outbox: { totals: { count: number; bytes: number; failed?: number } };
    };
    return { failed: 0, ...view.outbox.totals };
  }

  /**
   * Something made ops due (the app retried a failed op) or another tab asked for a sync: sync
   * soon if the loop runs here.
   */
  wake(trigger: SyncTrigger): void {
    if (this.#started) this.#trigger(trigger, this.#generation);
  }

  /**
   * A request the loop makes itself (a timer, the interval, the subscription, connectivity,
   * another tab): dropped once its generation is over. No caller awaits it, so a failure
   * outside the sync job (which reports its own) is kept for status() rather than left
   * unhandled.
   */
  #trigger(trigger: SyncTrigger, generation: number): void {
    if (generation !== this.#generation || !this.#started) return;
    this.#track(this.#request(trigger, generation)).catch((error: unknown) => {
      if (generation === this.#generation) this.#lastError = toSyncError(error);
    });
  }

  /** Keeps `work` in the set stop() waits for until it settles. */
  #track<T>(work: Promise<T>): Promise<T> {
    this.#pending.add(work);
    const done = () => this.#pending.delete(work);
    work.then(done, done);
    return work;
  }

  /** Asks the policy, and runs a sync when it says start. Resolves when that sync ends. */
  request(trigger: SyncTrigger): Promise<SyncDecision & { report?: SyncReport }> {
    // An app's own request (syncNow) runs even when the loop is stopped; close() waits for it.
    return this.#track(this.#request(trigger));
  }

  async #request(trigger: SyncTrigger, generation?: number): Promise<SyncDecision & { report?: SyncReport }> {
    await this.#refreshState();
    // The loop's own request, overtaken by a stop() while the outbox was read.
    if (generation !== undefined && generation !== this.#generation) return { action: 'skip', reason: 'stopped' };
    // From here to setting #running nothing awaits, so two requests cannot both start a sync:
    // the second one sees the first running (the policy's one-sync-at-a-time rule).
    this.#state.syncing = this.#running !== undefined;
    const now = Date.now();
    const decision = evaluatePolicy(this.#state, trigger, now, this.#policyConfig) as SyncDecision;
    if (decision.reason === 'other_tab') {
      this.#handOver(trigger);
      return decision;
    }
    if (decision.reason === 'already_syncing' && trigger !== 'interval') {
      // The running sync may have pulled before this change arrived, or pushed before this
      // write was made: one more sync follows it.
      this.#rerun ??= trigger;
    }
    if (decision.action !== 'start') {
      this.#hooks.emit('sync.job.blocked', {
        workspaceId: this.#workspaceId,
        kind: 'sync',
        trigger,
        reason: decision.reason as never,
        ...(decision.cooldownMs !== undefined && { cooldownMs: decision.cooldownMs }),
        ...(decision.blockedUntilMs !== undefined && { blockedUntil: decision.blockedUntilMs }),
      });
      if (decision.blockedUntilMs !== undefined) this.#wakeAt(decision.blockedUntilMs, 'retry');
      return decision;
    }
    if (trigger === 'manual') this.#state.lastManualRequestMs = now;
    const current = this.#generation;
    this.#running = this.#job(trigger).finally(() => {
      this.#running = undefined;
      const again = this.#rerun;
      this.#rerun = undefined;
      if (again && this.#leader) this.#trigger(again, current);
    });
    const report = await this.#running;
    return { ...decision, report };
  }

  async #job(trigger: SyncTrigger): Promise<SyncReport> {
    const provider = this.#provider()!;
    const jobId = `${this.#core.deviceId}:${++this.#jobs}`;
    const started = Date.now();
    const report: SyncReport = { trigger, pushed: 0, pulled: 0, applied: 0, conflicts: 0, cursor: 0 };
    this.#state.syncing = true;
    this.#state.lastSyncStartedMs = started;
    this.#hooks.emit('sync.job.started', { jobId, workspaceId: this.#workspaceId, kind: 'sync', trigger });
    try {
      await this.#recoverOrphans();
      await this.#catchUp(provider, report, jobId);
      if (await this.#pushAll(provider, report, jobId)) await this.#catchUp(provider, report, jobId);
      this.#state.lastSyncCompletedMs = Date.now();
      this.#lastError = undefined;
      this.#hooks.emit('sync.job.completed', {
        jobId,
        workspaceId: this.#workspaceId,
        kind: 'sync',
        trigger,
        durationMs: Date.now() - started,
        pushed: report.pushed,
        pulled: report.pulled,
      });
      this.#maybeCollectGarbage();
    } catch (error) {
      const err = toSyncError(error);
      report.error = err;
      // A failure that retrying cannot heal is reported once, not on every interval tick:
      // the same permanent error as the last job's is known to the app already.
      const repeated = !isTransient(err.code) && this.#lastError?.code === err.code && this.#lastError.message === err.message;
      if (err.code === 'rate_limited') {
        this.#block(err, trigger);
      } else {
        this.#lastError = err;
      }
      if (!repeated) {
        this.#hooks.emit('sync.error:action', {
          workspaceId: this.#workspaceId,
          phase: this.#phase,
          duringBootstrap: this.#phase === 'bootstrap' || this.#phase === 'rescan',
          error: err,
          transient: isTransient(err.code),
          willRetry: this.#started && isTransient(err.code),
        });
      }
      this.#hooks.emit('sync.job.failed', { jobId, workspaceId: this.#workspaceId, kind: 'sync', trigger, durationMs: Date.now() - started, error: err });
      if (this.#started && isTransient(err.code) && err.code !== 'rate_limited') this.#wakeIn(RECONNECT_MS[1]!, 'retry');
    } finally {
      this.#state.syncing = false;
      this.#progress = undefined;
      report.cursor = ((await this.#core.cursorState()) as { cursor: number }).cursor;
      await this.#scheduleRetries();
    }
    return report;
  }

  #block(err: SyncError, trigger: SyncTrigger): void {
    const until = Date.now() + (err.retryAfterMs ?? 1000);
    this.#state.blockedUntilMs = until;
    this.#hooks.emit('sync.job.blocked', { workspaceId: this.#workspaceId, kind: 'sync', trigger, reason: 'rate_limited', blockedUntil: until });
    // Resumes by itself once the provider allows it again.
    this.#wakeAt(until, 'retry');
  }

  async #call<T>(provider: SyncProvider, kind: 'push' | 'pull' | 'updateCursor', run: () => Promise<T>, size: (value: T) => { ops?: number; changes?: number } = () => ({})): Promise<T> {
    const started = Date.now();
    try {
      const value = await run();
      this.#hooks.emit('sync.request', { workspaceId: this.#workspaceId, providerId: provider.id, kind, outcome: 'ok', durationMs: Date.now() - started, ...size(value) });
      return value;
    } catch (error) {
      const err = toSyncError(error);
      this.#hooks.emit('sync.request', { workspaceId: this.#workspaceId, providerId: provider.id, kind, outcome: 'error', durationMs: Date.now() - started, errorCode: err.code });
      throw err;
    }
  }

  /** Pulls until caught up: a bootstrap from a cold start, a rescan after expiry. */
  async #catchUp(provider: SyncProvider, report: SyncReport, jobId: string): Promise<void> {
    const scope: SyncScope = { workspaceId: this.#workspaceId };
    let cursor = (await this.#core.cursorState()) as { phase: string; cursor: number };
    if (cursor.phase === 'expired' || cursor.phase === 'rescanning') {
      await this.#rescan(provider, report, cursor.cursor);
    } else {
      const bootstrapping = cursor.phase !== 'live';
      this.#phase = bootstrapping ? 'bootstrap' : 'pull';
      const started = Date.now();
      let floor: number | undefined;
      let pulled = 0;
      if (bootstrapping) this.#hooks.emit('sync.bootstrap:action:start', { workspaceId: this.#workspaceId, providerId: provider.id });
      // The next page, asked for while the current one is stored.
      let next: { cursor: number; page: Promise<PullResponse> } | undefined;
      for (;;) {
        let page: PullResponse;
        try {
          // A bootstrap's first page is small: the app gets its first records sooner, and the
          // page's work runs while the code is still cold (not yet optimised by the engine),
          // where a full page would hold the main thread for tens of milliseconds.
          const limit = bootstrapping && pulled === 0 ? Math.min(this.#options.pullLimit, FIRST_BOOTSTRAP_PAGE) : this.#options.pullLimit;
          page = await (next?.cursor === cursor.cursor ? next.page : this.#pull(provider, cursor.cursor, floor, bootstrapping, limit));
        } catch (error) {
          const err = toSyncError(error);
          if (err.code !== 'cursor_expired') throw err;
          await this.#rescan(provider, report, cursor.cursor);
          break;
        }
        floor ??= page.retentionFloor;
        // While this page is stored, the next one downloads: the network and the database
        // work at the same time (a bootstrap over HTTP on 127.0.0.1 went from about 6,600 to
        // about 8,000 records/s). A failure of the next pull surfaces when it is awaited; if
        // this page fails, the next one is dropped unseen.
        next = undefined;
        if (page.hasMore) {
          next = { cursor: page.nextCursor, page: this.#pull(provider, page.nextCursor, floor, bootstrapping) };
          next.page.catch(() => undefined);
        }
        let applied: ApplyReport;
        try {
          applied = await this.#apply(page, cursor.cursor);
        } catch (error) {
          // The page names another server data set than the cursor's: the server was reset.
          if (toSyncError(error).code !== 'cursor_expired') throw error;
          next = undefined;
          await this.#rescan(provider, report, cursor.cursor);
          break;
        }
        report.pulled += page.changes.length;
        report.applied += applied.applied.length;
        report.conflicts += applied.conflicts.length;
        pulled += page.changes.length;
        cursor = applied.cursor;
        if (page.total !== undefined) this.#progress = { current: pulled, total: page.total };
        this.#hooks.emit('sync.job.progress', { jobId, workspaceId: this.#workspaceId, kind: bootstrapping ? 'bootstrap' : 'pull', done: pulled, ...(page.total !== undefined && { total: page.total }) });
        if (bootstrapping) {
          this.#hooks.emit('sync.bootstrap:action:progress', { workspaceId: this.#workspaceId, cursor: cursor.cursor, pulled, ...(page.total !== undefined && { total: page.total }) });
        }
        if (!page.hasMore) break;
        // Let the page breathe between pages: input and rendering run while a large
        // workspace downloads.
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      if (bootstrapping && cursor.phase === 'live') {
        this.#hooks.emit('sync.bootstrap:action:complete', { workspaceId: this.#workspaceId, cursor: cursor.cursor, totalPulled: pulled, durationMs: Date.now() - started });
      }
    }
    this.#phase = 'cursor';
    try {
      await this.#reportCursor(provider, scope);
    } catch (error) {
      // The server lost versions this device pulled, after the pull (a reset in between):
      // reconcile now rather than fail every sync until the next pull notices.
      if (toSyncError(error).code !== 'cursor_expired') throw error;
      const expired = ((await this.#core.cursorState()) as { cursor: number }).cursor;
      await this.#rescan(provider, report, expired);
      this.#phase = 'cursor';
      await this.#reportCursor(provider, scope);
    }
  }

  async #reportCursor(provider: SyncProvider, scope: SyncScope): Promise<void> {
    const final = ((await this.#core.cursorState()) as { cursor: number }).cursor;
    await this.#call(provider, 'updateCursor', () => provider.updateCursor(scope, this.#core.deviceId, final));
  }

  async #apply(page: PullResponse, from: number): Promise<ApplyReport> {
    const { changes, nextCursor, hasMore, epoch } = page;
    this.#hooks.emit('sync.pull:action:received', { workspaceId: this.#workspaceId, source: 'pull', changes, cursor: from, nextCursor });
    let applied: ApplyReport;
    try {
      applied = (await this.#core.applyRemote(changes, nextCursor, hasMore, epoch)) as ApplyReport;
    } catch (error) {
      const err = toSyncError(error);
      // A reset server is not a bad page: the caller rescans, and the reset is reported then.
      if (err.code !== 'cursor_expired') {
        this.#hooks.emit('sync.pull:action:error', { workspaceId: this.#workspaceId, source: 'pull', error: err, changes: changes.length });
      }
      throw err;
    }
    this.#afterApply(changes, applied);
    return applied;
  }

  #afterApply(changes: SyncChange[], applied: ApplyReport): void {
    if (applied.skewMs > 0) {
      this.#hooks.emit('sync.clock:action:skew', { workspaceId: this.#workspaceId, aheadMs: applied.skewMs });
    }
    const byKey = applied.conflicts.length > 0 ? new Map(changes.map((c) => [`${c.tableName}\u0000${c.pk}`, c])) : undefined;
    for (const conflict of applied.conflicts) {
      const remote = byKey?.get(`${conflict.tableName}\u0000${conflict.pk}`);
      if (!remote) continue;
      this.#hooks.emit('sync.conflict:action:detected', {
        workspaceId: this.#workspaceId,
        tableName: conflict.tableName,
        pk: conflict.pk,
        local: conflict.local,
        remote,
        winner: conflict.winner,
        duringBootstrap: conflict.duringBootstrap,
      });
    }
    this.#hooks.emit('sync.pull:action:applied', {
      workspaceId: this.#workspaceId,
      source: 'pull',
      applied: applied.applied.length,
      skipped: applied.echoes + applied.identical + applied.stale,
      conflicts: applied.conflicts.length,
      cursor: applied.cursor.cursor,
    });
    this.#announce(applied.applied.map((a) => ({ table: a.tableName, id: a.pk })));
  }

  /** Stages the server's full set, then swaps it in; an interruption leaves local data as is. */
  async #rescan(provider: SyncProvider, report: SyncReport, fromCursor: number, restarts = 0): Promise<void> {
    const started = Date.now();
    this.#phase = 'rescan';
    this.#hooks.emit('sync.rescan:action:starting', { workspaceId: this.#workspaceId, reason: 'cursor_expired', fromCursor });
    await this.#core.beginRescan();
    let cursor = 0;
    let floor: number | undefined;
    let staged = 0;
    try {
      for (;;) {
        const page = await this.#pull(provider, cursor, floor, true);
        floor ??= page.retentionFloor;
        await this.#core.stageRescanPage(page.changes, {
          fromCursor: cursor,
          nextCursor: page.nextCursor,
          hasMore: page.hasMore,
          retentionFloor: page.retentionFloor,
          ...(page.total !== undefined && { total: page.total }),
          ...(page.epoch !== undefined && { epoch: page.epoch }),
        });
        staged += page.changes.length;
        report.pulled += page.changes.length;
        cursor = page.nextCursor;
        this.#hooks.emit('sync.rescan:action:progress', { workspaceId: this.#workspaceId, cursor, staged, ...(page.total !== undefined && { total: page.total }) });
        if (!page.hasMore) break;
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    } catch (error) {
      await this.#core.abortRescan();
      const err = toSyncError(error);
      // Tombstones were purged past the staged pages: start over from 0.
      if (err.code === 'cursor_expired' && restarts < MAX_RESCAN_RESTARTS) return this.#rescan(provider, report, fromCursor, restarts + 1);
      throw err;
    }
    const swapped = (await this.#core.completeRescan()) as {
      summary: { creations: number; updates: number; deletions: number; keptForRebase: number };
      cursor: { cursor: number };
      changed: Array<[string, string]>;
      reset?: { previousCursor: number; republishedRecords: number; republishedTombstones: number };
    };
    report.applied += swapped.changed.length;
    this.#announce(swapped.changed.map(([table, id]) => ({ table, id })));
    this.#hooks.emit('sync.rescan:action:completed', {
      workspaceId: this.#workspaceId,
      cursor: swapped.cursor.cursor,
      created: swapped.summary.creations,
      updated: swapped.summary.updates,
      deleted: swapped.summary.deletions,
      kept: swapped.summary.keptForRebase,
      durationMs: Date.now() - started,
    });
    if (swapped.reset) {
      this.#hooks.emit('sync.reset:action:completed', {
        workspaceId: this.#workspaceId,
        previousCursor: swapped.reset.previousCursor,
        cursor: swapped.cursor.cursor,
        republishedRecords: swapped.reset.republishedRecords,
        republishedTombstones: swapped.reset.republishedTombstones,
        keptPending: swapped.summary.keptForRebase,
        updated: swapped.summary.updates,
      });
    }
  }

  /**
   * Pulls the server's full current set (a snapshot, page by page) and asks the core what a
   * rescan would change, without staging or writing anything. Returns the plan and how many
   * changes were pulled.
   */
  async planRescan(): Promise<{ plan: unknown; pulled: number }> {
    const provider = this.#provider();
    if (!provider) throw new SyncError('no_provider', 'a rescan plan needs a provider to pull from');
    const changes: SyncChange[] = [];
    let cursor = 0;
    let floor: number | undefined;
    for (;;) {
      const page = await this.#pull(provider, cursor, floor, true);
      floor ??= page.retentionFloor;
      for (const change of page.changes) changes.push(change);
      cursor = page.nextCursor;
      if (!page.hasMore) break;
    }
    return { plan: await this.#core.planRescan(changes), pulled: changes.length };
  }

  /**
   * One pull request, with its envelope checked (see #checkPage). `snapshot` for bootstraps,
   * rescans and rescan plans, which stage the server's full current set.
   */
  #pull(provider: SyncProvider, cursor: number, floor: number | undefined, snapshot: boolean, limit = this.#options.pullLimit): Promise<PullResponse> {
    const request = {
      scope: { workspaceId: this.#workspaceId },
      cursor,
      limit,
      deviceId: this.#core.deviceId,
      ...(snapshot && { snapshot: true }),
      ...(floor !== undefined && { retentionFloor: floor }),
    };
    return this.#call(provider, 'pull', () => provider.pull(request).then((p) => this.#checkPage(p)), (p) => ({ changes: p.changes.length }));
  }

  /**
   * A pull answer's envelope, checked before anything reads it (the core checks each change):
   * a provider that answers with something else gets a typed error, not a crash.
   */
  #checkPage(page: PullResponse): PullResponse {
    const cursorLike = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
    const optionalCursorLike = (v: unknown) => v === undefined || cursorLike(v);
    // The first problem found, in the order a reader would trip on them.
    const checks: Array<[boolean, string]> = [
      [page !== null && typeof page === 'object', 'is not an object'],
      [Array.isArray(page?.changes), 'has no changes array'],
      [cursorLike(page?.nextCursor), 'has no valid nextCursor'],
      [typeof page?.hasMore === 'boolean', 'has no boolean hasMore'],
      [optionalCursorLike(page?.retentionFloor) && optionalCursorLike(page?.total), 'has an invalid retentionFloor or total'],
    ];
    const problem = checks.find(([ok]) => !ok)?.[1];
    if (problem === undefined) return page;
    const error = new SyncError('invalid_change', `the provider's pull answer ${problem}`);
    this.#hooks.emit('sync.pull:action:error', { workspaceId: this.#workspaceId, source: 'pull', error, changes: 0 });
    throw error;
  }

  /** Pushes due batches until none is left; returns whether anything was pushed. */
  async #pushAll(provider: SyncProvider, report: SyncReport, jobId: string): Promise<boolean> {
    const scope: SyncScope = { workspaceId: this.#workspaceId };
    this.#phase = 'push';
    let pushedAny = false;
    for (;;) {
      const batch = (await this.#core.takeBatch()) as Array<{ seq: number; op: PendingOp }>;
      if (batch.length === 0) return pushedAny;
      const pushBatch = { scope, deviceId: this.#core.deviceId, ops: batch.map((b) => b.op) };
      this.#hooks.emit('sync.push:action:before', { workspaceId: this.#workspaceId, providerId: provider.id, batch: pushBatch });
      const started = Date.now();
      let result: PushResult;
      try {
        result = await this.#call(provider, 'push', () => provider.push(pushBatch), () => ({ ops: pushBatch.ops.length }));
      } catch (error) {
        const err = toSyncError(error);
        const plain = { code: err.code, message: err.message, ...(err.retryAfterMs !== undefined && { retryAfterMs: err.retryAfterMs }) };
        await this.#core.settle(batch.map((b) => ({ seq: b.seq, opId: b.op.stamp.opId, error: plain })));
        if (err.code === 'rate_limited' || !isTransient(err.code)) throw err;
        this.#hooks.emit('sync.error:action', {
          workspaceId: this.#workspaceId,
          phase: 'push',
          duringBootstrap: false,
          error: err,
          transient: true,
          willRetry: true,
          opIds: batch.map((b) => b.op.stamp.opId),
        });
        return pushedAny;
      }
      const acknowledged: string[] = [];
      // The versions that beat this device's ops (superseded: a conflict), and the newer
      // versions of records its already-applied ops wrote (duplicates whose record moved on).
      const contested: SyncChange[] = [];
      const winners: SyncChange[] = [];
      const settlements = batch.map((b, i) => {
        const outcome = result.results[i];
        if (!outcome || outcome.opId !== b.op.stamp.opId) {
          return { seq: b.seq, opId: b.op.stamp.opId, error: { code: 'internal', message: 'the provider answered out of order' } };
        }
        if (outcome.status === 'rejected') {
          return { seq: b.seq, opId: b.op.stamp.opId, error: outcome.error ?? { code: 'rejected', message: 'rejected' } };
        }
        acknowledged.push(b.op.stamp.opId);
        if (outcome.current) (outcome.status === 'superseded' ? contested : winners).push(outcome.current);
        return { seq: b.seq, opId: b.op.stamp.opId };
      });
      this.#core.rememberPushed(acknowledged);
      // Winners are applied because this device may never pull them (they can sit below its
      // cursor). Those that beat an op go first, while the op is still in the outbox: the
      // core then sees the local write as pending and reports the conflict.
      if (contested.length > 0) {
        const applied = (await this.#core.applyWinners(contested)) as ApplyReport;
        this.#afterApply(contested, applied);
      }
      const settled = (await this.#core.settle(settlements)) as { failed: string[] };
      if (winners.length > 0) {
        const applied = (await this.#core.applyWinners(winners)) as ApplyReport;
        this.#afterApply(winners, applied);
      }
      report.pushed += acknowledged.length;
      pushedAny = true;
      this.#hooks.emit('sync.push:action:after', { workspaceId: this.#workspaceId, providerId: provider.id, batch: pushBatch, result, durationMs: Date.now() - started });
      this.#hooks.emit('sync.job.progress', { jobId, workspaceId: this.#workspaceId, kind: 'push', done: report.pushed });
      for (const opId of settled.failed) {
        const outcome = result.results.find((r) => r.opId === opId);
        const err = new SyncError((outcome?.error?.code ?? 'rejected') as never, outcome?.error?.message ?? 'the server refused the op');
        this.#hooks.emit('sync.error:action', { workspaceId: this.#workspaceId, phase: 'push', error: err, transient: false, willRetry: false, opIds: [opId], duringBootstrap: false });
      }
    }
  }

  /** Wakes the loop when the earliest backed-off op is due. */
  async #scheduleRetries(): Promise<void> {
    if (!this.#started || !this.#leader) return;
    const outbox = (await this.#core.outbox()) as { entries: Array<{ state: string; nextAttemptAt: number }> };
    const due = outbox.entries.filter((e) => e.state === 'pending').map((e) => e.nextAttemptAt);
    if (due.length > 0) this.#wakeAt(Math.min(...due), 'retry');
  }

  #wakeAt(at: number, trigger: SyncTrigger): void {
    this.#wakeIn(Math.max(0, at - Date.now()), trigger);
  }

  #wakeIn(ms: number, trigger: SyncTrigger): void {
    if (!this.#started || !this.#leader) return;
    const generation = this.#generation;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#trigger(trigger, generation);
    }, ms + 5);
    this.#timers.add(timer);
  }

  #maybeCollectGarbage(): void {
    const now = Date.now();
    if (!this.#started || now - this.#lastGc < 60_000) return;
    this.#lastGc = now;
    const generation = this.#generation;
    const run = async () => {
      const started = Date.now();
      const purged = (await this.#core.collectGarbage(this.#options.tombstoneRetentionMs)) as number;
      this.#hooks.emit('sync.gc:action:completed', { workspaceId: this.#workspaceId, purgedTombstones: purged, durationMs: Date.now() - started });
    };
    const go = () => {
      this.#cancelIdle = undefined;
      // Tracked: close() must not close the database under a running collection.
      if (generation === this.#generation) void this.#track(run()).catch(() => undefined);
    };
    const scope = globalThis as { requestIdleCallback?: (cb: () => void) => number; cancelIdleCallback?: (handle: number) => void };
    this.#cancelIdle?.();
    if (scope.requestIdleCallback) {
      const handle = scope.requestIdleCallback(go);
      this.#cancelIdle = () => scope.cancelIdleCallback?.(handle);
    } else {
      const timer = setTimeout(go, 0);
      this.#cancelIdle = () => clearTimeout(timer);
    }
  }

  /** A local write happened (here or in another tab). */
  localWrite(totals: { count: number; bytes: number }): void {
    this.#state.pendingOps = totals.count;
    if (totals.bytes > this.#options.outboxCapacityBytes) {
      this.#hooks.emit('sync.queue:action:full', { workspaceId: this.#workspaceId, pendingOps: totals.count, pendingBytes: totals.bytes, capacityBytes: this.#options.outboxCapacityBytes });
    }
    if (this.#started && this.#leader) this.#wakeIn(0, 'localWrite');
  }

  /**
   * Ops a page left in flight when it died (its push may or may not have reached the server)
   * would otherwise wait forever. The loop's leader puts them back to pending when it takes the
   * lock; an app that only calls `syncNow()` gets the same on its first sync, provided no other
   * tab is running the loop (that tab may be pushing them right now).
   */
  async #recoverOrphans(): Promise<void> {
    if (this.#orphansChecked || this.#leader) return;
    this.#orphansChecked = true;
    const locks = (globalThis.navigator as { locks?: LockManager } | undefined)?.locks;
    if (!locks) {
      await this.#core.recoverInFlight();
      return;
    }
    await locks.request(this.#lockName, { ifAvailable: true }, async (lock) => {
      if (lock) await this.#core.recoverInFlight();
    });
  }

  /** Starts the loop: waits for the workspace's lock, then syncs on every trigger. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    const generation = ++this.#generation;
    // A stop() still finishing a sync holds the lock until that sync ends: asking for it only
    // afterwards keeps two generations of this tab from leading at once.
    if (this.#stopping) void this.#stopping.then(() => this.#lead(generation));
    else this.#lead(generation);
    if (typeof window !== 'undefined') {
      const online = () => {
        this.#state.online = true;
        this.#trigger('online', generation);
      };
      const offline = () => {
        this.#state.online = false;
      };
      const visible = () => {
        if (document.visibilityState === 'visible') this.#trigger('visibility', generation);
      };
      window.addEventListener('online', online);
      window.addEventListener('offline', offline);
      document.addEventListener('visibilitychange', visible);
      this.#detach.push(
        () => window.removeEventListener('online', online),
        () => window.removeEventListener('offline', offline),
        () => document.removeEventListener('visibilitychange', visible),
      );
    }
  }

  /** Waits for the workspace's lock, then leads until stop() releases it. */
  #lead(generation: number): void {
    if (generation !== this.#generation) return;
    const locks = (globalThis.navigator as { locks?: LockManager } | undefined)?.locks;
    if (!locks) {
      this.#takeOver(generation);
      return;
    }
    const abort = new AbortController();
    this.#abortLock = abort;
    locks
      .request(this.#lockName, { signal: abort.signal }, () => {
        // Granted to a start() that a stop() has since ended: give it back at once.
        if (generation !== this.#generation) return undefined;
        this.#abortLock = undefined;
        return new Promise<void>((release) => {
          this.#releaseLock = release;
          this.#takeOver(generation);
        });
      })
      // An AbortError when stop() withdrew the request.
      .catch(() => undefined);
  }

  #takeOver(generation: number): void {
    this.#leader = true;
    const become = async () => {
      try {
        // The previous leader may have died mid-push: its in-flight ops go back to pending.
        await this.#core.recoverInFlight();
      } catch {
        // The loop runs regardless: its syncs meet the same storage error and report it.
      }
      if (generation !== this.#generation) return;
      this.#subscribe(0, generation);
      this.#interval = setInterval(() => this.#trigger('interval', generation), this.#options.intervalMs);
      this.#trigger('startup', generation);
    };
    // Tracked: a stop() during the recovery waits for it, and releases the lock once it ends.
    void this.#track(become());
  }

  #setSubscription(status: SubscriptionStatus, error?: SyncError): void {
    if (status === this.#subscription) return;
    const previous = this.#subscription;
    this.#subscription = status;
    this.#hooks.emit('sync.subscription:action:statusChange', { workspaceId: this.#workspaceId, status, previous, ...(error && { error }) });
  }

  #subscribe(attempt: number, generation: number): void {
    const provider = this.#provider();
    if (!provider || generation !== this.#generation) return;
    this.#setSubscription('connecting');
    // A provider that throws instead of rejecting gets the same reconnects.
    const subscribed = new Promise<() => void>((resolve) => {
      resolve(
        provider.subscribe({ workspaceId: this.#workspaceId }, this.#tables, () => {
          // Changes are a hint: pulling from the cursor applies them in order, with no gap.
          this.#trigger('remote', generation);
        }),
      );
    });
    subscribed.then(
      (unsubscribe) => {
        // Connected after a stop(): nothing else would end this subscription.
        if (generation !== this.#generation) {
          try {
            unsubscribe();
          } catch {
            // As in stop(): nothing more to do about it.
          }
          return;
        }
        this.#unsubscribe = unsubscribe;
        this.#setSubscription('connected');
      },
      (error: unknown) => {
        if (generation !== this.#generation) return;
        const err = toSyncError(error);
        this.#setSubscription('disconnected', err);
        if (attempt + 1 >= this.#options.subscriptionMaxRetries) {
          this.#hooks.emit('sync.subscription:action:maxRetriesExceeded', { workspaceId: this.#workspaceId, attempts: attempt + 1, error: err });
          return;
        }
        const delay = RECONNECT_MS[Math.min(attempt, RECONNECT_MS.length - 1)]!;
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          this.#subscribe(attempt + 1, generation);
        }, delay);
        this.#timers.add(timer);
      },
    );
  }

  /**
   * Stops the loop and hands the lock to another tab. Resolves once every request under way
   * (the app's too) has ended: from then on nothing of the loop runs or calls the provider.
   */
  stop(): Promise<void> {
    this.#started = false;
    this.#generation += 1;
    this.#abortLock?.abort();
    this.#abortLock = undefined;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    clearInterval(this.#interval);
    this.#interval = undefined;
    this.#cancelIdle?.();
    this.#cancelIdle = undefined;
    this.#rerun = undefined;
    const unsubscribe = this.#unsubscribe;
    this.#unsubscribe = undefined;
    try {
      unsubscribe?.();
    } catch {
      // The provider failed to end its subscription; the loop stops regardless.
    }
    this.#setSubscription('disconnected');
    for (const detach of this.#detach.splice(0)) detach();
    // Taken now, so that a takeover finishing later cannot release it a second time.
    const release = this.#releaseLock;
    this.#releaseLock = undefined;
    const previous = this.#stopping;
    const stopping = (async () => {
      await previous;
      // A sync under way ends with the lock still held: another tab must not push the same
      // ops meanwhile. Requests made while waiting are waited for too.
      while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
      this.#leader = false;
      release?.();
    })();
    this.#stopping = stopping;
    void stopping.then(() => {
      if (this.#stopping === stopping) this.#stopping = undefined;
    });
    return stopping;
  }

  /** The status view-model. */
  async status(): Promise<SyncStatus> {
    const failedOps = (await this.#refreshState()).failed;
    const input = {
      policy: this.#state,
      ...(this.#progress && { progress: this.#progress }),
      ...(this.#lastError && { lastError: { code: this.#lastError.code, message: this.#lastError.message } }),
      failedOps,
    };
    return deriveStatus(input, Date.now(), this.#policyConfig) as SyncStatus;
  }
}
