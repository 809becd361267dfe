// How an app's code type-checks against the package's declarations. Each line under an
// expect-error directive must be refused by the compiler: the types catch those mistakes.
import {
  HookEmitter,
  HttpSyncProvider,
  SyncError,
  getActiveSyncProvider,
  initSynclane,
  registerSyncProvider,
  toSyncError,
  type PullResponse,
  type SyncChange,
  type SyncErrorCode,
  type SyncHookMap,
  type HttpSyncProviderOptions,
  type SyncProvider,
} from 'synclane';
import { initMemoryServer, MemorySyncProvider } from 'synclane/memory';
import { providerConformanceCases, type ConformanceOutcome } from 'synclane/conformance';
import {
  chromeInspectedEval,
  createEvalSource,
  defineDevtoolsElement,
  installDevtoolsHook,
  mountDevtoolsPanel,
  type DevtoolsSource,
  type SynclaneDevtoolsElement,
} from 'synclane/devtools';
import type { SyncEngine } from 'synclane';

interface Note {
  id: string;
  title: string;
}

export async function app(): Promise<void> {
  await initSynclane();
  await initMemoryServer();
  const provider = new MemorySyncProvider({ faults: { latencyMs: 10 } });
  registerSyncProvider(provider, { activate: true });
  const active: SyncProvider | undefined = getActiveSyncProvider();

  const hooks = new HookEmitter<SyncHookMap>();
  const off = hooks.on('sync.conflict:action:detected', (event) => {
    const winner: 'local' | 'remote' = event.winner;
    const remote: SyncChange = event.remote;
    void [winner, remote, event.duringBootstrap];
  });
  off();
  hooks.onAny((name, payload) => {
    if (name === 'sync.bootstrap:action:progress') {
      const pulled: number = payload.pulled; // narrowed by the name
      void pulled;
    }
  });
  // @ts-expect-error: unknown hook name
  hooks.on('sync.nope', () => {});
  // @ts-expect-error: wrong payload shape
  hooks.emit('sync.gc:action:completed', { workspaceId: 'w' });

  try {
    await active?.pull({ scope: { workspaceId: 'w' }, cursor: 0, limit: 10 });
  } catch (e) {
    const error = toSyncError(e);
    const code: SyncErrorCode = error.code;
    if (error instanceof SyncError && code === 'rate_limited') void error.retryAfterMs;
    // @ts-expect-error: not a canonical code
    if (error.code === 'rate-limited') void 0;
  }

  const page: PullResponse<Note> = {
    changes: [{ tableName: 'notes', pk: 'n', op: 'put', payload: { id: 'n', title: 't' }, serverVersion: 1,
      stamp: { clock: 1, hlc: 'h', deviceId: 'd', opId: 'o' } }],
    nextCursor: 1,
    hasMore: false,
    retentionFloor: 0,
  };
  void page;

  // @ts-expect-error: a provider needs every method of the contract
  const incomplete: SyncProvider = { id: 'x', mode: 'direct', pull: async () => page };
  void incomplete;

  const server = provider.server;
  const stats: number = server.stats('w').version;
  const result = server.push({ scope: { workspaceId: 'w' }, deviceId: 'd', ops: [] });
  const statuses: ('applied' | 'duplicate' | 'superseded' | 'rejected')[] = result.results.map((r) => r.status);
  void [stats, statuses];

  const httpOptions: HttpSyncProviderOptions = {
    url: 'https://sync.example.com',
    token: async () => 'refreshed',
    reconnect: { delaysMs: [500, 2000] },
    onStreamStatus: (status, error) => {
      const s: 'connecting' | 'connected' | 'disconnected' = status;
      void [s, error?.code];
    },
  };
  const http: SyncProvider = new HttpSyncProvider(httpOptions);
  void http;
  // @ts-expect-error: the token is a string or a function giving one
  void new HttpSyncProvider({ url: 'https://sync.example.com', token: 42 });
  // @ts-expect-error: delivery is 'hints' or 'changes'
  void new HttpSyncProvider({ url: 'https://sync.example.com', token: 't', delivery: 'all' });

  for (const c of providerConformanceCases(async () => ({ provider }))) {
    const outcome: ConformanceOutcome = await c.run();
    if (outcome.status === 'skipped') void outcome.reason;
  }
}

// The devtools: the hook takes a SyncEngine, the element and the panel take sources.
export function devtools(engine: SyncEngine, container: HTMLElement): void {
  const id: string | undefined = installDevtoolsHook(engine);
  void id;
  defineDevtoolsElement();
  const element = document.createElement('synclane-devtools') as SynclaneDevtoolsElement;
  element.engine = engine;
  element.options = { outboxLimit: 100, theme: 'dark' };
  void element.refresh().then((stats) => stats.renderMs + stats.inspectMs);
  const source: DevtoolsSource = createEvalSource(async (expression) => expression.length);
  const unmount: () => void = mountDevtoolsPanel(container, source, { onCycle: (s) => void s.rows.created });
  unmount();
  // @ts-expect-error: the eval callback API is wrapped, not passed as is
  createEvalSource(chromeInspectedEval);
  // @ts-expect-error: a source needs every method
  mountDevtoolsPanel(container, { engines: async () => [] });
}
