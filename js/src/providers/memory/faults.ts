/**
 * The fault knobs of `MemorySyncProvider`: what they are, and how a call meets them (latency,
 * offline, rate limits, injected failures before or after the server does the work).
 *
 * @module
 */

import { SyncError, type SyncErrorCode } from '../../errors.js';
import type { PendingOp } from '../../types/protocol.js';

/** The provider calls a fault can target. */
export type MemoryProviderCall = 'push' | 'pull' | 'updateCursor' | 'subscribe';

/** One injected failure (see {@link MemoryProviderFaults.failNext}). */
export interface InjectedFailure {
  /** Which call fails; `'*'` for whichever comes first. */
  op: MemoryProviderCall | '*';
  /**
   * The code of the `SyncError` thrown: a transient one (`network`, `timeout`,
   * `server_error`) to exercise retries, a permanent one (`unauthorized`, `forbidden`,
   * `rejected`, ...) to exercise giving up.
   */
  code: SyncErrorCode;
  /** How many calls fail. Default 1. */
  times?: number;
  /** The error's `retryAfterMs` (useful with `rate_limited`). */
  retryAfterMs?: number;
  /** The error's message. Default: one naming the injected fault. */
  message?: string;
  /**
   * `'before'` (default): the call fails before it reaches the server. `'after'`: the server
   * does the work and then the answer is lost, as when a connection drops after a push was
   * applied; the retry then meets its own ops as duplicates.
   */
  when?: 'before' | 'after';
}

/**
 * Fault knobs of a {@link MemorySyncProvider}. Each is optional; an absent knob is off.
 * Set them at construction, replace them all with `provider.setFaults({...})` (so
 * `setFaults({})` turns every fault off), or change some and keep the others with
 * `provider.updateFaults({...})`.
 */
export interface MemoryProviderFaults {
  /** Delay every call (and every subscription delivery) by this many milliseconds. */
  latencyMs?: number;
  /** Failures for the next matching calls, consumed in order. */
  failNext?: InjectedFailure[];
  /** Answer the next `calls` calls (default 1) with `rate_limited` and this `retryAfterMs`. */
  rateLimit?: { retryAfterMs: number; calls?: number };
  /**
   * Simulate a retention floor: a pull from a cursor below this version fails with
   * `cursor_expired`, except the first page of a snapshot (cursor 0) and later pages that
   * carry a `retentionFloor` at least this high (as the reference server does). Responses
   * report it as their `retentionFloor`.
   */
  expireCursorBelow?: number;
  /**
   * Every call fails with `network`, and subscriptions receive nothing. Changes pushed by others
   * while offline are not replayed when it comes back: subscriptions are hints, and the engine
   * pulls to catch up, as it must with any real backend.
   */
  offline?: boolean;
  /**
   * Decides the server-side fate of each pushed op: return a code to have the op `rejected`
   * with that code (a permanent per-op failure; it never reaches the server), or `undefined`
   * to push it normally.
   */
  rejectOps?: (op: PendingOp) => SyncErrorCode | undefined;
}

/**
 * The error the faults give `call` of provider `providerId` at `when` (before it reaches the
 * server, or after), consuming the rule that matched; undefined when the call goes through.
 */
export function failureFor(faults: MemoryProviderFaults, providerId: string, call: MemoryProviderCall, when: 'before' | 'after'): SyncError | undefined {
  if (when === 'before') {
    if (faults.offline) return new SyncError('network', `provider "${providerId}" is offline`);
    const rateLimit = faults.rateLimit;
    if (rateLimit && (rateLimit.calls ?? 1) > 0) {
      const calls = (rateLimit.calls ?? 1) - 1;
      faults.rateLimit = calls > 0 ? { ...rateLimit, calls } : undefined;
      return new SyncError('rate_limited', `rate limited; retry after ${rateLimit.retryAfterMs} ms`, {
        retryAfterMs: rateLimit.retryAfterMs,
      });
    }
  }
  const rules = faults.failNext;
  if (!rules) return undefined;
  const index = rules.findIndex((r) => (r.op === '*' || r.op === call) && (r.when ?? 'before') === when);
  const rule = rules[index];
  if (!rule) return undefined;
  const times = (rule.times ?? 1) - 1;
  if (times > 0) rules[index] = { ...rule, times };
  else rules.splice(index, 1);
  return new SyncError(rule.code, rule.message ?? `${call} failed with ${rule.code} (injected fault)`, {
    retryAfterMs: rule.retryAfterMs,
  });
}

/** Resolves after `ms` (at once for none). */
export function pause(ms: number | undefined): Promise<void> {
  if (ms === undefined || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A copy the caller cannot change under the provider (rules are consumed in place). */
export function copyFaults(faults: MemoryProviderFaults): MemoryProviderFaults {
  const copy: MemoryProviderFaults = { ...faults };
  if (faults.failNext) copy.failNext = faults.failNext.map((rule) => ({ ...rule }));
  if (faults.rateLimit) copy.rateLimit = { ...faults.rateLimit };
  return copy;
}
