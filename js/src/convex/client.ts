/**
 * What `ConvexSyncProvider` uses of a Convex client, as a narrow structural type: the official
 * `ConvexClient` of `convex/browser` fits it as it is, and tests can hand in an adapter over
 * another backend (convex-test's, a fake).
 *
 * Type-only imports of `convex/server`: nothing of Convex is loaded by this module.
 *
 * @module
 */

import type { FunctionReference } from 'convex/server';

/**
 * The part of `ConvexClient` (from `convex/browser`) the provider calls. The provider never
 * sets or stores credentials: the app calls `client.setAuth(fetchToken)` on its own client.
 */
export interface ConvexClientLike {
  /** Runs a query once. */
  query(query: FunctionReference<'query'>, args: Record<string, unknown>): Promise<unknown>;
  /** Runs a mutation. */
  mutation(mutation: FunctionReference<'mutation'>, args: Record<string, unknown>): Promise<unknown>;
  /**
   * Calls `callback` with the query's result now and whenever it changes, `onError` when it
   * fails; returns the function that stops it.
   */
  onUpdate(
    query: FunctionReference<'query'>,
    args: Record<string, unknown>,
    callback: (result: unknown) => unknown,
    onError?: (error: Error) => unknown,
  ): () => void;
}

/**
 * References to the app's mounted synclane functions: `api.synclane.push` and so on from the
 * app's `convex/_generated/api`, or `makeFunctionReference('synclane:push')` from
 * `convex/server` when the app names them.
 */
export interface ConvexSyncFunctions {
  /** The `push` mutation. */
  push: FunctionReference<'mutation'>;
  /** The `pull` query. */
  pull: FunctionReference<'query'>;
  /** The `head` query, which the subscriptions watch. */
  head: FunctionReference<'query'>;
  /** The `updateCursor` mutation. */
  updateCursor: FunctionReference<'mutation'>;
}
