/**
 * The live subscription of the loop's leader: its deliveries are hints to pull, a failure
 * reconnects with backoff until `subscriptionMaxRetries`, and every change of state is a
 * `sync.subscription:action:statusChange` event.
 *
 * @module
 */

import { toSyncError, type SyncError } from '../errors.js';
import type { SyncProvider } from '../types/protocol.js';
import type { SubscriptionStatus } from '../types/sync.js';
import { emit, type SyncSession } from './session.js';

/** The waits between reconnects (the last one repeats). */
export const RECONNECT_MS = [250, 1000, 3000, 5000];

/** One engine's subscription: at most one open at a time. */
export interface Subscription {
  /**
   * Subscribes through the provider (none: nothing), reconnecting on failures, for as long as
   * `live()` says the start that opened it is on; deliveries call `changed`.
   */
  open(live: () => boolean, changed: () => void): void;
  /** Ends the subscription, if one is open. */
  close(): void;
}

/**
 * The subscription of `tables` through `provider()` (read again at each reconnect: the app may
 * change the active provider), giving up after `maxRetries` failures in a row; `later` runs
 * the reconnects, unless the loop stops first.
 */
// A closure rather than a class: its state needs no `this.` in the shipped code.
export function subscription(
  s: SyncSession,
  provider: () => SyncProvider | undefined,
  tables: string[],
  maxRetries: number,
  later: (work: () => void, ms: number) => void,
): Subscription {
  let status: SubscriptionStatus = 'disconnected';
  let unsubscribe: (() => void) | undefined;

  const set = (next: SubscriptionStatus, error?: SyncError): void => {
    if (next === status) return;
    const previous = status;
    status = next;
    emit(s, 'sync.subscription:action:statusChange', { status: next, previous, ...(error && { error }) });
  };

  const open = (live: () => boolean, changed: () => void, attempt = 0): void => {
    const current = provider();
    if (!current || !live()) return;
    set('connecting');
    // A provider that throws instead of rejecting gets the same reconnects.
    const subscribed = new Promise<() => void>((resolve) => {
      resolve(
        current.subscribe({ workspaceId: s.workspaceId }, tables, () => {
          // Changes are a hint: pulling from the cursor applies them in order, with no gap.
          changed();
        }),
      );
    });
    subscribed.then(
      (end) => {
        // Connected after a stop(): nothing else would end this subscription.
        if (!live()) {
          try {
            end();
          } catch {
            // As in close(): nothing more to do about it.
          }
          return;
        }
        unsubscribe = end;
        set('connected');
      },
      (error: unknown) => {
        if (!live()) return;
        const err = toSyncError(error);
        set('disconnected', err);
        if (attempt + 1 >= maxRetries) {
          emit(s, 'sync.subscription:action:maxRetriesExceeded', { attempts: attempt + 1, error: err });
          return;
        }
        const delay = RECONNECT_MS[Math.min(attempt, RECONNECT_MS.length - 1)]!;
        later(() => open(live, changed, attempt + 1), delay);
      },
    );
  };

  return {
    open,
    close() {
      const end = unsubscribe;
      unsubscribe = undefined;
      try {
        end?.();
      } catch {
        // The provider failed to end its subscription; the loop stops regardless.
      }
      set('disconnected');
    },
  };
}
