/**
 * Hooks: what the engine reports while it works, as a typed event emitter.
 *
 * {@link SyncHookMap} (declared in `types/hooks.ts`) names every hook and its payload;
 * {@link HookEmitter} delivers them. A listener can never break the engine: one that throws, or
 * returns a promise that rejects, is reported to the emitter's `onListenerError` and the other
 * listeners still run.
 *
 * @module
 */

import type { SyncHookMap, SyncHookName } from './types/hooks.js';

// The hook payload types live in types/ (the modules that emit them and the devtools that
// record them share them); this module's exports stay the ones apps import it for.
export type { ChangeSource, ConflictVersion, SyncHookMap, SyncHookName } from './types/hooks.js';
export type { SubscriptionStatus, SyncBlockReason, SyncJobKind, SyncPhase, SyncTrigger } from './types/sync.js';

// A Record over the hook names, so the list below cannot miss one (the compiler checks it).
const HOOK_NAME_SET: Readonly<Record<SyncHookName, true>> = {
  'sync.op:action:captured': true,
  'sync.capture:action:failed': true,
  'sync.storage:action:lost': true,
  'sync.push:action:before': true,
  'sync.push:action:after': true,
  'sync.error:action': true,
  'sync.pull:action:received': true,
  'sync.pull:action:applied': true,
  'sync.clock:action:skew': true,
  'sync.pull:action:error': true,
  'sync.conflict:action:detected': true,
  'sync.bootstrap:action:start': true,
  'sync.bootstrap:action:progress': true,
  'sync.bootstrap:action:complete': true,
  'sync.rescan:action:starting': true,
  'sync.rescan:action:progress': true,
  'sync.rescan:action:completed': true,
  'sync.reset:action:completed': true,
  'sync.subscription:action:statusChange': true,
  'sync.subscription:action:maxRetriesExceeded': true,
  'sync.queue:action:full': true,
  'sync.gc:action:completed': true,
  'sync.request': true,
  'sync.job.started': true,
  'sync.job.progress': true,
  'sync.job.blocked': true,
  'sync.job.completed': true,
  'sync.job.failed': true,
};

/** Every hook name of {@link SyncHookMap}, for devtools and docs. */
export const SYNC_HOOK_NAMES: readonly SyncHookName[] = Object.freeze(
  Object.keys(HOOK_NAME_SET) as SyncHookName[],
);

/** The string keys of a hook map. */
export type HookName<M> = Extract<keyof M, string>;

/** A listener of one hook. It may be async; a rejection is reported, never propagated. */
export type HookListener<P> = (payload: P) => void | Promise<void>;

/**
 * A listener of every hook, for devtools. Its arguments are a `[name, payload]` pair typed
 * per hook, so checking `name` narrows `payload`.
 */
export type AnyHookListener<M> = (
  ...event: { [K in HookName<M>]: [name: K, payload: M[K]] }[HookName<M>]
) => void | Promise<void>;

/**
 * Receives what a listener threw or rejected with. `name` is the hook being emitted.
 */
export type ListenerErrorHandler = (error: unknown, name: string) => void;

/** Options of the {@link HookEmitter} constructor. */
export interface HookEmitterOptions {
  /** Where listener failures go. Default: `console.error`. */
  onListenerError?: ListenerErrorHandler;
}

interface Registration {
  readonly listener: (payload: never) => void | Promise<void>;
  readonly once: boolean;
}

/**
 * A typed event emitter. `on` returns the function that removes the listener; `emit` calls the
 * listeners synchronously, in registration order, with the listeners registered when the emit
 * began (adding or removing one from inside a listener affects the next emit only).
 *
 * @typeParam M - a map from hook name to payload type, such as {@link SyncHookMap}.
 */
export class HookEmitter<M extends object = SyncHookMap> {
  #listeners = new Map<string, Registration[]>();
  #anyListeners: AnyHookListener<M>[] = [];
  #onListenerError: ListenerErrorHandler;

  /** @param options - `onListenerError` receives listener failures (default `console.error`). */
  constructor(options: HookEmitterOptions = {}) {
    this.#onListenerError =
      options.onListenerError ??
      ((error, name) => {
        console.error(`[synclane] a listener of "${name}" failed:`, error);
      });
  }

  /** Calls `listener` on every emit of `name`. Returns the function that removes it. */
  on<K extends HookName<M>>(name: K, listener: HookListener<M[K]>): () => void {
    return this.#add(name, { listener, once: false });
  }

  /** Calls `listener` on the next emit of `name` only. Returns the function that removes it. */
  once<K extends HookName<M>>(name: K, listener: HookListener<M[K]>): () => void {
    return this.#add(name, { listener, once: true });
  }

  /** Removes every registration of `listener` for `name` (`once` ones included). */
  off<K extends HookName<M>>(name: K, listener: HookListener<M[K]>): void {
    const list = this.#listeners.get(name);
    if (!list) return;
    const kept = list.filter((registration) => registration.listener !== listener);
    if (kept.length === 0) this.#listeners.delete(name);
    else this.#listeners.set(name, kept);
  }

  /** Calls `listener` with the name and payload of every emit. Returns the function that removes it. */
  onAny(listener: AnyHookListener<M>): () => void {
    this.#anyListeners = [...this.#anyListeners, listener];
    return () => {
      this.#anyListeners = this.#anyListeners.filter((l) => l !== listener);
    };
  }

  /** How many listeners `name` has (not counting `onAny` listeners). */
  listenerCount(name: HookName<M>): number {
    return this.#listeners.get(name)?.length ?? 0;
  }

  /** Removes every listener, `onAny` ones included (e.g. when the engine closes). */
  clear(): void {
    this.#listeners.clear();
    this.#anyListeners = [];
  }

  /**
   * Calls the listeners of `name`, then the `onAny` listeners, with `payload`. Never throws
   * because of a listener.
   */
  emit<K extends HookName<M>>(name: K, payload: M[K]): void {
    const list = this.#listeners.get(name);
    if (list) {
      if (list.some((registration) => registration.once)) {
        // Once-listeners leave before they run, so a re-entrant emit cannot call them twice.
        const kept = list.filter((registration) => !registration.once);
        if (kept.length === 0) this.#listeners.delete(name);
        else this.#listeners.set(name, kept);
      }
      for (const registration of list) {
        this.#call(name, () => (registration.listener as HookListener<M[K]>)(payload));
      }
    }
    for (const listener of this.#anyListeners) {
      this.#call(name, () => (listener as (name: K, payload: M[K]) => void | Promise<void>)(name, payload));
    }
  }

  #add(name: string, registration: Registration): () => void {
    // Copy on write: an emit in progress keeps iterating the array it started with.
    this.#listeners.set(name, [...(this.#listeners.get(name) ?? []), registration]);
    return () => {
      const list = this.#listeners.get(name);
      if (!list) return;
      const kept = list.filter((r) => r !== registration);
      if (kept.length === 0) this.#listeners.delete(name);
      else this.#listeners.set(name, kept);
    };
  }

  #call(name: string, run: () => void | Promise<void>): void {
    try {
      const result: unknown = run();
      if (isPromiseLike(result)) {
        result.then(undefined, (error: unknown) => this.#report(error, name));
      }
    } catch (error) {
      this.#report(error, name);
    }
  }

  #report(error: unknown, name: string): void {
    try {
      this.#onListenerError(error, name);
    } catch {
      // The error handler itself failed; there is nowhere left to report to, and emitting
      // must not throw.
    }
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
