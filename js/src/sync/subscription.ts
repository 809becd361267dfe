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

/** What a subscription needs of the loop that opens it. */
export interface SubscriptionHost {
  /** The provider now (the app may change the active one between reconnects). */
  provider(): SyncProvider | undefined;
  readonly tables: string[];
  readonly maxRetries: number;
  /** Whether the start that opened it is still on (a stop() ends it). */
  live(): boolean;
  /** Changes arrived: pull. */
  changed(): void;
  /** Runs `work` after `ms`, unless the loop stops first. */
  later(work: () => void, ms: number): void;
}

/** One engine's subscription: at most one open at a time. */
export interface Subscription {
  /** Subscribes through the host's provider (none: nothing), reconnecting on failures. */
  open(host: SubscriptionHost): void;
  /** Ends the subscription, if one is open. */
  close(): void;
}

// A closure rather than a class: its state needs no `this.` in the shipped code.
export function subscription(s: SyncSession): Subscription {
  let status: SubscriptionStatus = 'disconnected';
  let unsubscribe: (() => void) | undefined;

  const set = (next: SubscriptionStatus, error?: SyncError): void => {
    if (next === status) return;
    const previous = status;
    status = next;
    emit(s, 'sync.subscription:action:statusChange', { status: next, previous, ...(error && { error }) });
  };

  const open = (host: SubscriptionHost, attempt = 0): void => {
    const provider = host.provider();
    if (!provider || !host.live()) return;
    set('connecting');
    // A provider that throws instead of rejecting gets the same reconnects.
    const subscribed = new Promise<() => void>((resolve) => {
      resolve(
        provider.subscribe({ workspaceId: s.workspaceId }, host.tables, () => {
          // Changes are a hint: pulling from the cursor applies them in order, with no gap.
          host.changed();
        }),
      );
    });
    subscribed.then(
      (end) => {
        // Connected after a stop(): nothing else would end this subscription.
        if (!host.live()) {
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
        if (!host.live()) return;
        const err = toSyncError(error);
        set('disconnected', err);
        if (attempt + 1 >= host.maxRetries) {
          emit(s, 'sync.subscription:action:maxRetriesExceeded', { attempts: attempt + 1, error: err });
          return;
        }
        const delay = RECONNECT_MS[Math.min(attempt, RECONNECT_MS.length - 1)]!;
        host.later(() => open(host, attempt + 1), delay);
      },
    );
  };

  return {
    open: (host) => open(host),
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
