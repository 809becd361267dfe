/**
 * The provider registry: apps register their backend adapters once (typically in a plugin
 * that runs at start-up) and the engine asks for the active one.
 *
 * The registry is module-level state: one per loaded copy of the package. It does not own the
 * providers: unregistering or resetting never disposes them.
 *
 * @module
 */

import { SyncError } from './errors.js';
import type { SyncProvider } from './types/protocol.js';

/** Options of {@link registerSyncProvider}. */
export interface RegisterSyncProviderOptions {
  /** Make this provider the active one at once. */
  activate?: boolean;
}

/** Called when the provider {@link getActiveSyncProvider} returns changes. */
export type ActiveSyncProviderListener = (
  active: SyncProvider | undefined,
  previous: SyncProvider | undefined,
) => void;

const REQUIRED_METHODS = ['subscribe', 'pull', 'push', 'updateCursor'] as const;

const providers = new Map<string, SyncProvider>();
let activeId: string | undefined;
let listeners: ActiveSyncProviderListener[] = [];

/**
 * Registers `provider` under its `id`. Returns the function that unregisters it.
 *
 * @throws SyncError `invalid_argument` when a provider with the same id is registered, or when
 *   `provider` lacks an id, a valid `mode` or one of the contract's methods.
 */
export function registerSyncProvider(
  provider: SyncProvider,
  options: RegisterSyncProviderOptions = {},
): () => void {
  checkProvider(provider);
  if (providers.has(provider.id)) {
    throw new SyncError(
      'invalid_argument',
      `a sync provider with id "${provider.id}" is already registered; unregister it first`,
    );
  }
  const before = getActiveSyncProvider();
  providers.set(provider.id, provider);
  if (options.activate) activeId = provider.id;
  notifyIfChanged(before);
  return () => {
    // Only this registration: a later provider registered under the same id stays.
    if (providers.get(provider.id) === provider) unregisterSyncProvider(provider.id);
  };
}

/** Removes the provider registered as `id`. Returns whether there was one. */
export function unregisterSyncProvider(id: string): boolean {
  if (!providers.has(id)) return false;
  const before = getActiveSyncProvider();
  providers.delete(id);
  if (activeId === id) activeId = undefined;
  notifyIfChanged(before);
  return true;
}

/**
 * Chooses the active provider by id; `undefined` clears the choice (the only registered
 * provider, if there is exactly one, is then active again).
 *
 * @throws SyncError `no_provider` when no provider is registered as `id`.
 */
export function setActiveSyncProvider(id: string | undefined): void {
  if (id !== undefined && !providers.has(id)) {
    const known = [...providers.keys()].map((k) => `"${k}"`).join(', ') || 'none';
    throw new SyncError('no_provider', `no sync provider is registered as "${id}" (registered: ${known})`);
  }
  const before = getActiveSyncProvider();
  activeId = id;
  notifyIfChanged(before);
}

/**
 * The provider the engine should use: the one chosen with {@link setActiveSyncProvider} (or
 * registered with `activate`), else the only registered one, else `undefined`.
 */
export function getActiveSyncProvider(): SyncProvider | undefined {
  if (activeId !== undefined) return providers.get(activeId);
  if (providers.size === 1) return providers.values().next().value;
  return undefined;
}

/** The registered providers, in registration order. */
export function listSyncProviders(): SyncProvider[] {
  return [...providers.values()];
}

/**
 * Calls `listener` whenever the provider {@link getActiveSyncProvider} returns changes.
 * Returns the function that removes it.
 */
export function onActiveSyncProviderChange(listener: ActiveSyncProviderListener): () => void {
  listeners = [...listeners, listener];
  return () => {
    listeners = listeners.filter((l) => l !== listener);
  };
}

/** Forgets every provider, the active choice and every change listener. For tests. */
export function resetSyncProviders(): void {
  providers.clear();
  activeId = undefined;
  listeners = [];
}

function checkProvider(provider: SyncProvider): void {
  if (typeof provider !== 'object' || provider === null) {
    throw new SyncError('invalid_argument', 'a sync provider must be an object');
  }
  if (typeof provider.id !== 'string' || provider.id.length === 0) {
    throw new SyncError('invalid_argument', 'a sync provider needs a non-empty string id');
  }
  if (provider.mode !== 'direct' && provider.mode !== 'gateway') {
    throw new SyncError(
      'invalid_argument',
      `sync provider "${provider.id}": mode must be "direct" or "gateway", got ${JSON.stringify(provider.mode)}`,
    );
  }
  for (const method of REQUIRED_METHODS) {
    if (typeof provider[method] !== 'function') {
      throw new SyncError('invalid_argument', `sync provider "${provider.id}" has no ${method}() method`);
    }
  }
  if (provider.dispose !== undefined && typeof provider.dispose !== 'function') {
    throw new SyncError('invalid_argument', `sync provider "${provider.id}": dispose must be a function`);
  }
}

function notifyIfChanged(before: SyncProvider | undefined): void {
  const after = getActiveSyncProvider();
  if (after === before) return;
  for (const listener of listeners) {
    try {
      listener(after, before);
    } catch (error) {
      // One listener's bug must not stop the registry or the other listeners.
      console.error('[synclane] an active-provider listener failed:', error);
    }
  }
}
