/**
 * Pushing the outbox: due batches taken from the core, pushed, and settled with the provider's
 * per-op results; the versions that beat or outlived this device's ops applied at once.
 *
 * @module
 */

import { isTransient, SyncError, toSyncError } from '../errors.js';
import type { PendingOp, PushResult, SyncChange, SyncProvider, SyncScope } from '../types/protocol.js';
import type { SyncReport } from '../types/sync.js';
import { afterApply } from './apply.js';
import { call } from './requests.js';
import { emit, type ApplyReport, type SyncSession } from './session.js';

/** Pushes due batches until none is left; returns whether anything was pushed. */
export async function pushAll(s: SyncSession, provider: SyncProvider, report: SyncReport, jobId: string): Promise<boolean> {
  const scope: SyncScope = { workspaceId: s.workspaceId };
  s.phase = 'push';
  let pushedAny = false;
  for (;;) {
    const batch = (await s.core.takeBatch()) as Array<{ seq: number; op: PendingOp }>;
    if (batch.length === 0) return pushedAny;
    const pushBatch = { scope, deviceId: s.core.deviceId, ops: batch.map((b) => b.op) };
    emit(s, 'sync.push:action:before', { providerId: provider.id, batch: pushBatch });
    const started = Date.now();
    let result: PushResult;
    try {
      result = await call(s, provider, 'push', () => provider.push(pushBatch), () => ({ ops: pushBatch.ops.length }));
    } catch (error) {
      const err = toSyncError(error);
      const plain = { code: err.code, message: err.message, ...(err.retryAfterMs !== undefined && { retryAfterMs: err.retryAfterMs }) };
      await s.core.settle(batch.map((b) => ({ seq: b.seq, opId: b.op.stamp.opId, error: plain })));
      if (err.code === 'rate_limited' || !isTransient(err.code)) throw err;
      emit(s, 'sync.error:action', {
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
    s.core.rememberPushed(acknowledged);
    // Winners are applied because this device may never pull them (they can sit below its
    // cursor). Those that beat an op go first, while the op is still in the outbox: the
    // core then sees the local write as pending and reports the conflict.
    if (contested.length > 0) await applyWinners(s, contested);
    const settled = (await s.core.settle(settlements)) as { failed: string[] };
    if (winners.length > 0) await applyWinners(s, winners);
    report.pushed += acknowledged.length;
    pushedAny = true;
    emit(s, 'sync.push:action:after', { providerId: provider.id, batch: pushBatch, result, durationMs: Date.now() - started });
    s.hooks.emit('sync.job.progress', { jobId, workspaceId: s.workspaceId, kind: 'push', done: report.pushed });
    for (const opId of settled.failed) {
      const outcome = result.results.find((r) => r.opId === opId);
      const err = new SyncError((outcome?.error?.code ?? 'rejected') as never, outcome?.error?.message ?? 'the server refused the op');
      emit(s, 'sync.error:action', { phase: 'push', error: err, transient: false, willRetry: false, opIds: [opId], duringBootstrap: false });
    }
  }
}

/** Applies versions a push reported (by the conflict rule, whatever the cursor) and reports them. */
async function applyWinners(s: SyncSession, changes: SyncChange[]): Promise<void> {
  afterApply(s, changes, (await s.core.applyWinners(changes)) as ApplyReport);
}
