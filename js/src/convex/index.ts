/**
 * `synclane/convex`: the client half of synclane's Convex backend. {@link ConvexSyncProvider}
 * syncs through the functions of `synclane/convex/server` that the app mounts, over the app's
 * `ConvexClient` (from `convex/browser`, an optional peer dependency needed by this entry only).
 *
 * @module
 */

export { ConvexSyncProvider } from './provider.js';
export type { ConvexSyncProviderOptions } from './provider.js';
export type { ConvexClientLike, ConvexSyncFunctions } from './client.js';
export type { ConvexDelivery } from './head.js';
export { DEFAULT_PUSH_LIMITS } from './batches.js';
export type { ConvexPushLimits } from './batches.js';
export { convexSyncError } from './errors.js';
