/**
 * synclane: a local-first sync engine for the browser.
 *
 * This entry point gathers the TypeScript layer: the protocol types and the `SyncProvider`
 * contract, `SyncError` and its codes, the hook emitter, the provider registry, the HTTP
 * provider, the engine's wasm classes and their loader. The in-memory server and its provider
 * are on `synclane/memory`, the provider conformance kit on `synclane/conformance`, the
 * devtools panel on `synclane/devtools`: an app downloads none of them unless it imports them.
 *
 * @packageDocumentation
 */

export type {
  ChangeStamp,
  OpKind,
  PendingOp,
  PullRequest,
  PullResponse,
  PushBatch,
  PushOpError,
  PushOpResult,
  PushResult,
  PushStatus,
  SyncChange,
  SyncPayload,
  SyncProvider,
  SyncScope,
} from './types/protocol.js';
export {
  isSyncError,
  isSyncErrorCode,
  isTransient,
  SYNC_ERROR_CODES,
  SyncError,
  toSyncError,
  type SyncErrorCauseJson,
  type SyncErrorCode,
  type SyncErrorJson,
  type SyncErrorOptions,
} from './errors.js';
export {
  HookEmitter,
  SYNC_HOOK_NAMES,
  type AnyHookListener,
  type ChangeSource,
  type ConflictVersion,
  type HookEmitterOptions,
  type HookListener,
  type HookName,
  type ListenerErrorHandler,
  type SubscriptionStatus,
  type SyncBlockReason,
  type SyncHookMap,
  type SyncHookName,
  type SyncJobKind,
  type SyncPhase,
  type SyncTrigger,
} from './hooks.js';
export {
  getActiveSyncProvider,
  listSyncProviders,
  onActiveSyncProviderChange,
  registerSyncProvider,
  resetSyncProviders,
  setActiveSyncProvider,
  unregisterSyncProvider,
  type ActiveSyncProviderListener,
  type RegisterSyncProviderOptions,
} from './registry.js';
export {
  initSynclane,
  initSynclaneSync,
  isSynclaneReady,
  SyncClock,
  type SyncClockConstructor,
  type SynclaneInitInput,
} from './wasm.js';
export {
  HttpSyncProvider,
  type HttpDelivery,
  type HttpReconnectOptions,
  type HttpStreamStatus,
  type HttpSyncProviderOptions,
} from './providers/http.js';

export { SyncEngine } from './engine.js';
export type {
  CapturedOp,
  ConflictRecord,
  CursorState,
  EngineInspection,
  IndexSchema,
  OutboxEntry,
  PlannedVersion,
  RecordQuery,
  RescanPlan,
  SyncEngineOptions,
  SyncPlan,
  TableSchema,
  WatchEvent,
  WriteOp,
} from './types/engine.js';
export type { SyncDecision, SyncLoopOptions, SyncReport, SyncStatus } from './types/sync.js';
