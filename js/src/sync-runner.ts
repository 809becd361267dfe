/**
 * The sync loop of one engine: it asks the core's policy before every sync, runs one sync job
 * at a time (catch up by pulling, bootstrap or rescan as the cursor needs, push the outbox),
 * and wakes itself for retries, rate limits, intervals, connectivity, visibility, remote
 * changes and local writes. Only the tab that holds the workspace's Web Lock runs it; the
 * others hand their writes over through the shared database and a BroadcastChannel.
 *
 * This module is the loop itself: requests and the policy, the job's outcome, wake-ups, start
 * and stop. The job's steps are in `sync/` (catch-up, rescan, push, with the provider calls and
 * remote apply they share), as are the Web Lock, the live subscription and the timers. It stays
 * one class of about 450 lines because every method reads or moves the same state (the
 * policy's inputs, the generation of the current start, leadership, the work stop() waits
 * for): splitting it further would spread one state machine over several files.
 *
 * @module
 */

import type { EngineCore } from './wasm/synclane.js';
import { deriveStatus, evaluatePolicy } from './wasm/synclane.js';
import type { HookEmitter } from './hooks.js';
import { SyncError, isTransient, toSyncError } from './errors.js';
import type { SyncProvider } from './types/protocol.js';
import type { SyncHookMap } from './types/hooks.js';
import type { SyncDecision, SyncLoopOptions, SyncReport, SyncStatus, SyncTrigger } from './types/sync.js';
import { catchUp } from './sync/catch-up.js';
import { ifLockFree, lockName, requestLock } from './sync/leader.js';
import { pushAll } from './sync/push.js';
import { planRescan } from './sync/rescan.js';
import { emit, type Announce, type SyncSession } from './sync/session.js';
import { RECONNECT_MS, subscription, type Subscription } from './sync/subscription.js';
import { wakeups } from './sync/wakeups.js';


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

/** Passes a request to the tab that runs the loop. */
type HandOver = (trigger: SyncTrigger) => void;

/** Runs sync for one engine. */
export class SyncRunner {
  #core: EngineCore;
  #hooks: HookEmitter<SyncHookMap>;
  #provider: () => SyncProvider | undefined;
  #handOver: HandOver;
  #options: Required<SyncLoopOptions>;
  /** What the job's steps share with the loop: its phase and progress among them. */
  #session: SyncSession;
  #subscription: Subscription;
  #state: PolicyState = { hasProvider: false, online: true, syncing: false, pendingOps: 0, follower: false };
  #lastError: SyncError | undefined;
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
  /** The timers, interval, idle callback and page listeners of the current start. */
  #wakeups = wakeups();
  #lastGc = 0;
  /** Whether this engine checked for ops a dead page left in flight (see #recoverOrphans). */
  #orphansChecked = false;
  /** A request that came while a sync ran, to honour once it ends (it may have pulled too early). */
  #rerun: SyncTrigger | undefined;

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
    this.#options = {
      pullLimit: options.pullLimit ?? 500,
      intervalMs: options.intervalMs ?? 30_000,
      manualCooldownMs: options.manualCooldownMs ?? 5_000,
      tombstoneRetentionMs: options.tombstoneRetentionMs ?? 7 * 24 * 3600 * 1000,
      subscriptionMaxRetries: options.subscriptionMaxRetries ?? 5,
      outboxCapacityBytes: options.outboxCapacityBytes ?? 32 * 1024 * 1024,
    };
    this.#session = { core, hooks, announce, workspaceId: core.workspaceId, pullLimit: this.#options.pullLimit, phase: 'pull' };
    this.#subscription = subscription(this.#session, provider, tables, this.#options.subscriptionMaxRetries, (work, ms) => this.#wakeups.later(work, ms));
  }

  get #workspaceId(): string {
    return this.#core.workspaceId;
  }

  get #policyConfig() {
    return { manualCooldownMs: this.#options.manualCooldownMs, intervalMs: this.#options.intervalMs };
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
      emit(this.#session, 'sync.job.blocked', {
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
      await catchUp(this.#session, provider, report, jobId);
      if (await pushAll(this.#session, provider, report, jobId)) await catchUp(this.#session, provider, report, jobId);
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
        const phase = this.#session.phase;
        emit(this.#session, 'sync.error:action', {
          phase,
          duringBootstrap: phase === 'bootstrap' || phase === 'rescan',
          error: err,
          transient: isTransient(err.code),
          willRetry: this.#started && isTransient(err.code),
        });
      }
      this.#hooks.emit('sync.job.failed', { jobId, workspaceId: this.#workspaceId, kind: 'sync', trigger, durationMs: Date.now() - started, error: err });
      if (this.#started && isTransient(err.code) && err.code !== 'rate_limited') this.#wakeIn(RECONNECT_MS[1]!, 'retry');
    } finally {
      this.#state.syncing = false;
      this.#session.progress = undefined;
      report.cursor = ((await this.#core.cursorState()) as { cursor: number }).cursor;
      // Ops wait for their backoff only once a push tried them. A job that failed before its
      // push leaves them due now: waking for them would rerun the failing job at once, in a
      // loop; the failure schedules its own retry (above) or waits for the next trigger.
      if (!report.error) await this.#scheduleRetries();
    }
    return report;
  }

  #block(err: SyncError, trigger: SyncTrigger): void {
    const until = Date.now() + (err.retryAfterMs ?? 1000);
    this.#state.blockedUntilMs = until;
    emit(this.#session, 'sync.job.blocked', { kind: 'sync', trigger, reason: 'rate_limited', blockedUntil: until });
    // Resumes by itself once the provider allows it again.
    this.#wakeAt(until, 'retry');
  }

  /**
   * Pulls the server's full current set (a snapshot, page by page) and asks the core what a
   * rescan would change, without staging or writing anything. Returns the plan and how many
   * changes were pulled.
   */
  planRescan(): Promise<{ plan: unknown; pulled: number }> {
    return planRescan(this.#session, this.#provider());
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
    this.#wakeups.later(() => this.#trigger(trigger, generation), ms + 5);
  }

  #maybeCollectGarbage(): void {
    const now = Date.now();
    if (!this.#started || now - this.#lastGc < 60_000) return;
    this.#lastGc = now;
    const generation = this.#generation;
    const run = async () => {
      const started = Date.now();
      const purged = (await this.#core.collectGarbage(this.#options.tombstoneRetentionMs)) as number;
      emit(this.#session, 'sync.gc:action:completed', { purgedTombstones: purged, durationMs: Date.now() - started });
    };
    this.#wakeups.idle(() => {
      // Tracked: close() must not close the database under a running collection.
      if (generation === this.#generation) void this.#track(run()).catch(() => undefined);
    });
  }

  /** A local write happened (here or in another tab). */
  localWrite(totals: { count: number; bytes: number }): void {
    this.#state.pendingOps = totals.count;
    if (totals.bytes > this.#options.outboxCapacityBytes) {
      emit(this.#session, 'sync.queue:action:full', { pendingOps: totals.count, pendingBytes: totals.bytes, capacityBytes: this.#options.outboxCapacityBytes });
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
    await ifLockFree(lockName(this.#core.dbName), () => this.#core.recoverInFlight());
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
    this.#wakeups.onPage(
      () => {
        this.#state.online = true;
        this.#trigger('online', generation);
      },
      () => {
        this.#state.online = false;
      },
      () => this.#trigger('visibility', generation),
    );
  }

  /** Waits for the workspace's lock, then leads until stop() releases it. */
  #lead(generation: number): void {
    if (generation !== this.#generation) return;
    this.#abortLock = requestLock(
      lockName(this.#core.dbName),
      () => generation === this.#generation,
      (release) => {
        this.#abortLock = undefined;
        this.#releaseLock = release;
        this.#takeOver(generation);
      },
    );
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
      this.#subscription.open(
        () => generation === this.#generation,
        () => this.#trigger('remote', generation),
      );
      this.#wakeups.every(() => this.#trigger('interval', generation), this.#options.intervalMs);
      this.#trigger('startup', generation);
    };
    // Tracked: a stop() during the recovery waits for it, and releases the lock once it ends.
    void this.#track(become());
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
    this.#wakeups.cancelAll();
    this.#rerun = undefined;
    this.#subscription.close();
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
      ...(this.#session.progress && { progress: this.#session.progress }),
      ...(this.#lastError && { lastError: { code: this.#lastError.code, message: this.#lastError.message } }),
      failedOps,
    };
    return deriveStatus(input, Date.now(), this.#policyConfig) as SyncStatus;
  }
}
