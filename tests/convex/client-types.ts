// Compile-time test, checked by `tsc -p tests/convex`: the official ConvexClient, the typed
// references of an app's generated api and references made by name all fit what
// ConvexSyncProvider takes, with no cast.
import type { ConvexClient } from 'convex/browser';
import { makeFunctionReference } from 'convex/server';
import { ConvexSyncProvider, type ConvexClientLike, type ConvexSyncFunctions } from '../../js/src/convex/index.js';
import { api } from './convex/_generated/api.js';

/** `ConvexClient` from `convex/browser` is a `ConvexClientLike` as it is. */
export function fromConvexClient(client: ConvexClient): ConvexClientLike {
  return client;
}

/** The generated `api.synclane` is the provider's function references. */
export const generated: ConvexSyncFunctions = api.synclane;

/** So are references made by name, for an app that mounts the functions elsewhere. */
export const byName: ConvexSyncFunctions = {
  push: makeFunctionReference<'mutation'>('sync:push'),
  pull: makeFunctionReference<'query'>('sync:pull'),
  head: makeFunctionReference<'query'>('sync:head'),
  updateCursor: makeFunctionReference<'mutation'>('sync:updateCursor'),
};

/** The provider built as an app builds it. */
export function provider(client: ConvexClient): ConvexSyncProvider {
  return new ConvexSyncProvider({ client, functions: api.synclane });
}
