/**
 * `synclane/memory`: the in-memory reference server and its provider, for tests, demos and
 * the provider conformance kit. Its wasm module (`synclane_memory_bg.wasm`) is separate from
 * the engine's, so an app that syncs with a real backend never downloads it.
 *
 * @example
 * ```ts
 * import { SyncEngine } from 'synclane';
 * import { initMemoryServer, MemorySyncProvider } from 'synclane/memory';
 *
 * await initMemoryServer();
 * const provider = new MemorySyncProvider();
 * const engine = await SyncEngine.open({ workspaceId: 'demo', tables: ['notes'], provider });
 * ```
 *
 * @packageDocumentation
 */

export {
  initMemoryServer,
  initMemoryServerSync,
  isMemoryServerReady,
  MemorySyncServer,
  type MemorySyncServerConstructor,
  type MemorySyncServerOptions,
  type MemoryWorkspaceStats,
} from './memory-server.js';
export {
  MemorySyncProvider,
  type InjectedFailure,
  type MemoryProviderCall,
  type MemoryProviderFaults,
  type MemorySyncProviderOptions,
} from './providers/memory.js';
