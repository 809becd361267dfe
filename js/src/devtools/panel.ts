/**
 * The devtools panel: plain DOM in a shadow root, fed by a {@link DevtoolsSource}. The same
 * code runs in the page (`<synclane-devtools>`) and in the Chrome DevTools extension.
 *
 * It polls `inspect` about once a second (less often when an inspect is slow) and the event
 * stream four times a second, and pauses while the page or the panel is hidden. Only
 * `outboxLimit` outbox rows are ever fetched and drawn, and rows are keyed (outbox by op id,
 * conflicts and events by sequence number): a refresh touches only the rows that changed.
 *
 * This module is the frame (header, engine picker, errors), the polling and the refresh; each
 * view of an engine is a module of `panel/` (status, outbox, conflicts, events).
 *
 * @module
 */

import { shortId } from './format.js';
import type { DevtoolsCycleStats, DevtoolsSource, EngineInspection, EngineSummary } from './types.js';
import { ConflictsView } from './panel/conflicts.js';
import { adoptStyles, describe, el, isShadowRoot, now, setText } from './panel/dom.js';
import { EventsView } from './panel/events.js';
import { OutboxView, type OutboxAction } from './panel/outbox.js';
import { StatusView } from './panel/status.js';

export type { DevtoolsCycleStats } from './types.js';

/** Options of {@link mountDevtoolsPanel}. */
export interface DevtoolsPanelOptions {
  /** Outbox rows fetched and drawn (default 200). */
  outboxLimit?: number;
  /** Conflicts fetched and drawn (default 50). */
  conflictLimit?: number;
  /** How often to inspect (default 1000 ms; stretched to 4× a slow inspect's duration). */
  inspectIntervalMs?: number;
  /** How often to read new events (default 250 ms). */
  eventsIntervalMs?: number;
  /** Events kept by the panel (default 1000). */
  maxEvents?: number;
  /** Events drawn at most, newest first (default 300). */
  maxRenderedEvents?: number;
  /** The engine to show first, when several are registered. */
  engineId?: string;
  /** `auto` (default) follows `prefers-color-scheme`. */
  theme?: 'auto' | 'light' | 'dark';
  /** Polling also pauses while this returns false (e.g. a DevTools panel that is not shown). */
  isActive?: () => boolean;
  /** Called after every refresh with its measurements. */
  onCycle?: (stats: DevtoolsCycleStats) => void;
}

/** What {@link mountDevtoolsPanel} returns: call it to unmount. */
export interface DevtoolsPanelHandle {
  (): void;
  /** Refreshes now (after any refresh in progress) and resolves with its measurements. */
  refresh(): Promise<DevtoolsCycleStats>;
  /** Reads new events now. */
  pollEvents(): Promise<void>;
  /** The last refresh's measurements. */
  readonly lastCycle: DevtoolsCycleStats | undefined;
  /** The panel's root element (inside the shadow root). */
  readonly root: HTMLElement;
}

const DEFAULTS = {
  outboxLimit: 200,
  conflictLimit: 50,
  inspectIntervalMs: 1000,
  eventsIntervalMs: 250,
  maxEvents: 1000,
  maxRenderedEvents: 300,
  theme: 'auto' as const,
};

type ResolvedOptions = Required<Omit<DevtoolsPanelOptions, 'engineId' | 'isActive' | 'onCycle'>> & Pick<DevtoolsPanelOptions, 'engineId' | 'isActive' | 'onCycle'>;

/**
 * Renders the panel into `container` (an element, in which it creates a shadow-rooted host,
 * or a shadow root, into which it renders directly) and keeps it live. Returns the function
 * that unmounts it, with `refresh()` and `lastCycle` attached.
 */
export function mountDevtoolsPanel(container: HTMLElement | ShadowRoot, source: DevtoolsSource, options: DevtoolsPanelOptions = {}): DevtoolsPanelHandle {
  const panel = new Panel(container, source, options);
  const handle = (() => panel.dispose()) as DevtoolsPanelHandle;
  Object.defineProperties(handle, {
    refresh: { value: () => panel.refresh() },
    pollEvents: { value: () => panel.pollEvents() },
    lastCycle: { get: () => panel.lastCycle },
    root: { get: () => panel.root },
  });
  return handle;
}

class Panel {
  readonly root: HTMLElement;
  lastCycle: DevtoolsCycleStats | undefined;

  readonly #source: DevtoolsSource;
  readonly #o: ResolvedOptions;
  readonly #doc: Document;
  readonly #shadow: ShadowRoot;
  readonly #host: HTMLElement | undefined;
  readonly #removeStyles: () => void;
  #refreshError: string | undefined;
  #actionError: string | undefined;
  #disposed = false;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #cleanups: Array<() => void> = [];

  #engines: EngineSummary[] = [];
  #selected: string | undefined;
  #selectedDb: string | undefined;
  #lastInspectMs = 0;
  #refreshChain: Promise<unknown> = Promise.resolve();
  #queuedRefresh: Promise<DevtoolsCycleStats> | undefined;
  #eventsBusy: Promise<void> | undefined;

  // The views of the selected engine.
  #status!: StatusView;
  #outbox!: OutboxView;
  #conflicts!: ConflictsView;
  #events!: EventsView;

  // The frame.
  #picker!: HTMLSelectElement;
  #engineLabel!: HTMLElement;
  #live!: HTMLElement;
  #message!: HTMLElement;
  #errorLine!: HTMLElement;
  #body!: HTMLElement;

  constructor(container: HTMLElement | ShadowRoot, source: DevtoolsSource, options: DevtoolsPanelOptions) {
    this.#source = source;
    this.#o = {
      ...DEFAULTS,
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    } as ResolvedOptions;
    this.#doc = container.ownerDocument ?? document;
    if (isShadowRoot(container)) {
      this.#shadow = container;
    } else {
      this.#host = this.#doc.createElement('div');
      this.#host.className = 'synclane-devtools-host';
      container.appendChild(this.#host);
      this.#shadow = this.#host.attachShadow({ mode: 'open' });
    }
    this.#removeStyles = adoptStyles(this.#doc, this.#shadow);
    this.root = this.#build();
    this.#shadow.appendChild(this.root);
    if (this.#o.engineId) this.#selected = this.#o.engineId;

    const onVisible = () => {
      if (this.#active()) {
        void this.refresh();
        void this.pollEvents();
      }
    };
    this.#doc.addEventListener('visibilitychange', onVisible);
    this.#cleanups.push(() => this.#doc.removeEventListener('visibilitychange', onVisible));
    this.#loop(() => this.refresh(), () => Math.max(this.#o.inspectIntervalMs, this.#lastInspectMs * 4));
    this.#loop(() => this.pollEvents(), () => this.#o.eventsIntervalMs);
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const cleanup of this.#cleanups.splice(0)) cleanup();
    this.root.remove();
    this.#removeStyles();
    this.#host?.remove();
  }

  /** Refreshes after the one in progress; calls made meanwhile share one refresh. */
  refresh(): Promise<DevtoolsCycleStats> {
    if (this.#queuedRefresh) return this.#queuedRefresh;
    const run = this.#refreshChain.then(() => {
      this.#queuedRefresh = undefined;
      return this.#cycle();
    });
    this.#queuedRefresh = run;
    this.#refreshChain = run.catch(() => undefined);
    return run;
  }

  pollEvents(): Promise<void> {
    this.#eventsBusy ??= this.#events.read().finally(() => (this.#eventsBusy = undefined));
    return this.#eventsBusy;
  }

  // ---- Scheduling -------------------------------------------------------------------------

  #active(): boolean {
    if (this.#disposed || this.#doc.hidden || !this.root.isConnected) return false;
    if (this.#o.isActive && !this.#o.isActive()) return false;
    const check = (this.root as { checkVisibility?: () => boolean }).checkVisibility;
    return typeof check === 'function' ? check.call(this.root) : true;
  }

  /** Runs `run` now and then `interval()` after each run ends, while the panel is active. */
  #loop(run: () => Promise<unknown>, interval: () => number): void {
    const tick = async () => {
      if (this.#disposed) return;
      const active = this.#active();
      this.#setLive(active);
      if (active) {
        try {
          await run();
        } catch {
          // Shown by the refresh itself; the loop goes on.
        }
      }
      if (!this.#disposed) this.#after(interval(), tick);
    };
    this.#after(0, tick);
  }

  #after(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }

  // ---- Refresh ----------------------------------------------------------------------------

  async #cycle(): Promise<DevtoolsCycleStats> {
    const rows = { created: 0, updated: 0, moved: 0, removed: 0, kept: 0 };
    const started = now();
    let stats: DevtoolsCycleStats;
    try {
      const engines = await this.#source.engines();
      if (this.#disposed) return this.#stats(undefined, 0, 0, rows);
      this.#setEngines(engines);
      const id = this.#selected;
      if (!id) {
        this.#showNoEngine();
        stats = this.#stats(undefined, now() - started, 0, rows);
      } else {
        const inspection = await this.#source.inspect(id, { outboxLimit: this.#o.outboxLimit, conflictLimit: this.#o.conflictLimit });
        const fetched = now();
        this.#lastInspectMs = fetched - started;
        if (this.#disposed || id !== this.#selected) return this.#stats(id, fetched - started, 0, rows);
        this.#render(inspection, rows);
        const outbox = inspection.outbox;
        stats = { ...this.#stats(id, fetched - started, now() - fetched, rows), outboxShown: outbox.entries.length, outboxTotal: outbox.totals.count };
      }
      this.#refreshError = undefined;
      this.#showErrors();
    } catch (error) {
      const err = describe(error);
      if (err.code === 'unknown_engine') this.#selected = undefined;
      this.#refreshError = `Could not read the engine: ${err.code}: ${err.message}`;
      this.#showErrors();
      stats = { ...this.#stats(this.#selected, now() - started, 0, rows), error: err };
    }
    this.lastCycle = stats;
    try {
      this.#o.onCycle?.(stats);
    } catch {
      // A measurement callback must not stop the panel.
    }
    return stats;
  }

  #stats(engineId: string | undefined, inspectMs: number, renderMs: number, rows: DevtoolsCycleStats['rows']): DevtoolsCycleStats {
    return { engineId, inspectMs, renderMs, rows, outboxShown: this.#outbox.size, outboxTotal: this.lastCycle?.outboxTotal ?? 0 };
  }

  #setEngines(engines: EngineSummary[]): void {
    const previous = this.#selected;
    this.#engines = engines;
    let next = engines.find((e) => e.id === previous);
    // After a reload ids change: keep following the same database.
    next ??= engines.find((e) => e.dbName === this.#selectedDb);
    next ??= engines[0];
    this.#selected = next?.id;
    this.#selectedDb = next?.dbName ?? this.#selectedDb;
    if (this.#selected !== previous) this.#resetEngineView();

    // The picker, only when there is a choice.
    const signature = engines.map((e) => `${e.id}|${engineLabel(e)}`).join('\n');
    if (this.#picker.dataset['sig'] !== signature) {
      this.#picker.dataset['sig'] = signature;
      this.#picker.replaceChildren(...engines.map((e) => el(this.#doc, 'option', { value: e.id }, engineLabel(e))));
    }
    if (this.#selected) this.#picker.value = this.#selected;
    this.#picker.hidden = engines.length < 2;
    setText(this.#engineLabel, next ? engineLabel(next) : '');
    this.#engineLabel.hidden = !next || engines.length > 1;
    this.root.dataset['engineId'] = this.#selected ?? '';
  }

  #select(id: string): void {
    if (id === this.#selected) return;
    this.#selected = id;
    this.#selectedDb = this.#engines.find((e) => e.id === id)?.dbName;
    this.#resetEngineView();
    void this.refresh();
    void this.pollEvents();
  }

  #resetEngineView(): void {
    this.#outbox.reset();
    this.#conflicts.reset();
    this.#events.reset();
  }

  #showNoEngine(): void {
    this.#message.textContent = 'No synclane engine in this page yet. Engines register when they open (installDevtoolsHook).';
    this.#message.hidden = false;
    this.#body.hidden = true;
  }

  #showErrors(): void {
    const text = [this.#refreshError, this.#actionError].filter((t) => t !== undefined).join(' · ');
    this.#errorLine.hidden = text === '';
    setText(this.#errorLine, text);
  }

  #setLive(active: boolean): void {
    const state = this.#disposed ? 'stopped' : active ? 'live' : 'paused';
    if (this.#live.dataset['state'] !== state) {
      this.#live.dataset['state'] = state;
      this.#live.textContent = state === 'live' ? '● live' : state === 'paused' ? '❚❚ paused (hidden)' : '';
    }
  }

  #render(view: EngineInspection, rows: DevtoolsCycleStats['rows']): void {
    const t = Date.now();
    this.#message.hidden = true;
    this.#body.hidden = false;
    this.#status.render(view, this.#engines.find((e) => e.id === this.#selected), t);
    this.#outbox.render(view.outbox, t, rows);
    this.#conflicts.render(view.conflicts, t);
  }

  // ---- Actions ----------------------------------------------------------------------------

  async #act(action: OutboxAction, opId: string): Promise<void> {
    const id = this.#selected;
    if (!id) return;
    const ran = await this.#outbox.whileBusy(opId, async () => {
      try {
        if (action === 'retry') await this.#source.retryOp(id, opId);
        else await this.#source.discardOp(id, opId);
        this.#actionError = undefined;
      } catch (error) {
        const err = describe(error);
        this.#actionError = `${action === 'retry' ? 'Retry' : 'Discard'} of ${opId} failed: ${err.code}: ${err.message}`;
      }
    });
    if (!ran) return;
    this.#showErrors();
    await this.refresh();
  }

  // ---- Building ---------------------------------------------------------------------------

  #build(): HTMLElement {
    const d = this.#doc;
    this.#picker = el(d, 'select', { class: 'sl-engine-picker', 'data-testid': 'engine-picker', title: 'Engine' });
    this.#picker.hidden = true;
    this.#picker.addEventListener('change', () => this.#select(this.#picker.value));
    this.#engineLabel = el(d, 'span', { class: 'sl-engine-label', 'data-testid': 'engine-label' });
    this.#live = el(d, 'span', { class: 'sl-live', 'data-testid': 'live' });
    const header = el(d, 'header', { class: 'sl-header' }, el(d, 'span', { class: 'sl-title' }, 'synclane'), this.#picker, this.#engineLabel, this.#live);

    this.#message = el(d, 'div', { class: 'sl-message', 'data-testid': 'message' }, 'Looking for synclane engines…');
    this.#errorLine = el(d, 'div', { class: 'sl-error-line', 'data-testid': 'error', role: 'alert' });
    this.#errorLine.hidden = true;

    this.#status = new StatusView(d);
    this.#outbox = new OutboxView(d, (action, opId) => void this.#act(action, opId));
    this.#conflicts = new ConflictsView(d);
    this.#events = new EventsView(d, this.#source, () => (this.#disposed ? undefined : this.#selected), this.#o);

    this.#body = el(d, 'div', { class: 'sl-section sl-body' }, this.#status.element, this.#outbox.element, this.#conflicts.element, this.#events.element);
    this.#body.hidden = true;
    return el(d, 'div', { class: `sl-root sl-theme-${this.#o.theme}`, 'data-testid': 'synclane-devtools' }, header, this.#errorLine, this.#message, this.#body);
  }
}

function engineLabel(e: EngineSummary): string {
  return `${e.workspaceId} · ${e.dbName} · device ${shortId(e.deviceId)}${e.isSyncLeader ? ' · leader' : ''}`;
}
