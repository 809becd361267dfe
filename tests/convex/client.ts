// A Convex client over convex-test's in-memory backend, implementing the narrow interface
// ConvexSyncProvider takes (ConvexClientLike), so the provider runs against the real functions.
// Queries and mutations run as `t.query` / `t.mutation` under a user identity, so the app's
// `authorize` sees a signed-in member; `onUpdate` re-runs its query after every mutation made
// through any client of the same hub (as Convex re-runs subscribed queries after a commit) and
// calls back when the result changed.
import type { FunctionReference } from 'convex/server';
import type { ConvexClientLike } from '../../js/src/convex/client.js';
import type { backend } from './setup.js';

type Backend = ReturnType<typeof backend>;

type Watch = {
  query: FunctionReference<'query'>;
  args: Record<string, unknown>;
  callback: (result: unknown) => unknown;
  onError: ((error: Error) => unknown) | undefined;
  /** The JSON text of the last result called back, to call back only on a change. */
  last: string | undefined;
  active: boolean;
  /** Runs the query and calls back if its result changed. */
  run: () => Promise<void>;
};

/** The subscriptions of every client of one backend: a mutation through any of them refreshes all. */
export class TestHub {
  readonly t: Backend;
  readonly #watches = new Set<Watch>();
  /** Every call made through the hub's clients, in order (onUpdate's re-runs left out). */
  readonly calls: { kind: 'query' | 'mutation'; args: Record<string, unknown> }[] = [];

  constructor(t: Backend) {
    this.t = t;
  }

  /** A client acting as the user `subject`. */
  client(subject: string): TestConvexClient {
    return new TestConvexClient(this, this.t.withIdentity({ subject }));
  }

  /** How many `onUpdate` subscriptions are open. */
  get watchCount(): number {
    return this.#watches.size;
  }

  add(watch: Watch): void {
    this.#watches.add(watch);
  }

  remove(watch: Watch): void {
    this.#watches.delete(watch);
  }

  /** Re-runs every subscribed query (under its client's identity), calling back the changed ones. */
  async refresh(): Promise<void> {
    await Promise.all([...this.#watches].map((watch) => watch.run()));
  }
}

/** One client: an identity on the hub's backend. */
export class TestConvexClient implements ConvexClientLike {
  readonly #hub: TestHub;
  readonly #as: ReturnType<Backend['withIdentity']>;
  /** When set, every call fails with this error before reaching the backend. */
  failWith: Error | undefined;

  constructor(hub: TestHub, as: ReturnType<Backend['withIdentity']>) {
    this.#hub = hub;
    this.#as = as;
  }

  async query(query: FunctionReference<'query'>, args: Record<string, unknown>): Promise<unknown> {
    if (this.failWith) throw this.failWith;
    this.#hub.calls.push({ kind: 'query', args });
    return this.#as.query(query, args);
  }

  async mutation(mutation: FunctionReference<'mutation'>, args: Record<string, unknown>): Promise<unknown> {
    if (this.failWith) throw this.failWith;
    this.#hub.calls.push({ kind: 'mutation', args });
    try {
      return await this.#as.mutation(mutation, args);
    } finally {
      await this.#hub.refresh();
    }
  }

  onUpdate(
    query: FunctionReference<'query'>,
    args: Record<string, unknown>,
    callback: (result: unknown) => unknown,
    onError?: (error: Error) => unknown,
  ): () => void {
    const watch: Watch = {
      query,
      args,
      callback,
      onError,
      last: undefined,
      active: true,
      run: async () => {
        try {
          const result = await this.#as.query(query, args);
          const text = JSON.stringify(result);
          if (!watch.active || text === watch.last) return;
          watch.last = text;
          callback(result);
        } catch (error) {
          if (watch.active) onError?.(error as Error);
        }
      },
    };
    this.#hub.add(watch);
    // The first result comes asynchronously, as from a real client.
    void watch.run();
    return () => {
      watch.active = false;
      this.#hub.remove(watch);
    };
  }
}
