/**
 * The devtools panel: plain DOM in a shadow root, fed by a {@link DevtoolsSource}. The same
 * code runs in the page (`<synclane-devtools>`) and in the Chrome DevTools extension.
 *
 * It polls `inspect` about once a second (less often when an inspect is slow) and the event
 * stream four times a second, and pauses while the page or the panel is hidden. Only
 * `outboxLimit` outbox rows are ever fetched and drawn, and rows are keyed (outbox by op id,
 * conflicts and events by sequence number): a refresh touches only the rows that changed.
 *
 * @module
 */

import { formatBytes, formatClock, formatCount, formatDuration, formatRelative, shortId } from './format.js';
import { PANEL_CSS } from './styles.js';
import type { ConflictRecord, DevtoolsEvent, DevtoolsSource, EngineInspection, EngineSummary, OutboxEntry } from './types.js';

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

/** What one refresh (engines + inspect + render) did and how long it took. */
export interface DevtoolsCycleStats {
  engineId: string | undefined;
  /** Waiting for the source (`engines` + `inspect`), ms. */
  inspectMs: number;
  /** Updating the DOM, ms. */
  renderMs: number;
  /** What happened to the outbox rows. */
  rows: { created: number; updated: number; moved: number; removed: number; kept: number };
  outboxShown: number;
  outboxTotal: number;
  /** When the refresh failed. */
  error?: { code: string; message: string };
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

interface OutboxRow {
  tr: HTMLTableRowElement;
  sig: string;
  next: string;
  cells: {
    table: HTMLTableCellElement;
    pk: HTMLTableCellElement;
    op: HTMLTableCellElement;
    state: HTMLSpanElement;
    attempts: HTMLTableCellElement;
    next: HTMLTableCellElement;
    size: HTMLTableCellElement;
    error: HTMLTableCellElement;
    actions: HTMLTableCellElement;
  };
}

interface ConflictRow {
  tr: HTMLTableRowElement;
  when: HTMLTableCellElement;
  whenText: string;
}

interface StoredEvent {
  event: DevtoolsEvent;
  /** The payload as one line of JSON, for display and the text filter. */
  json: string;
}

type Facts = Map<string, { wrap: HTMLElement; value: HTMLElement; text: string; cls: string }>;

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

const sheets = new WeakMap<Document, CSSStyleSheet>();

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
  #busyOps = new Set<string>();

  #outboxRows = new Map<string, OutboxRow>();
  #conflictRows = new Map<number, ConflictRow>();
  #events: StoredEvent[] = [];
  #lastSeq = 0;
  #dropped = 0;
  #names = new Set<string>();
  #renderedEvents = new Map<number, HTMLLIElement>();
  #eventsPaused = false;
  #unseenWhilePaused = 0;
  #textFilter = '';
  #nameFilter = '';

  // Elements.
  #picker!: HTMLSelectElement;
  #engineLabel!: HTMLElement;
  #live!: HTMLElement;
  #message!: HTMLElement;
  #errorLine!: HTMLElement;
  #body!: HTMLElement;
  #statusFacts: Facts = new Map();
  #cursorFacts: Facts = new Map();
  #statusBox!: HTMLElement;
  #cursorBox!: HTMLElement;
  #outboxCount!: HTMLElement;
  #outboxBody!: HTMLTableSectionElement;
  #conflictCount!: HTMLElement;
  #conflictBody!: HTMLTableSectionElement;
  #eventCount!: HTMLElement;
  #eventList!: HTMLUListElement;
  #eventFilter!: HTMLInputElement;
  #eventName!: HTMLSelectElement;
  #pauseButton!: HTMLButtonElement;

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
    this.#eventsBusy ??= this.#readEvents().finally(() => (this.#eventsBusy = undefined));
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
    return { engineId, inspectMs, renderMs, rows, outboxShown: this.#outboxRows.size, outboxTotal: this.lastCycle?.outboxTotal ?? 0 };
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
    const label = next ? engineLabel(next) : '';
    if (this.#engineLabel.textContent !== label) this.#engineLabel.textContent = label;
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
    this.#outboxBody.replaceChildren();
    this.#outboxRows.clear();
    this.#conflictBody.replaceChildren();
    this.#conflictRows.clear();
    this.#clearEvents();
    this.#lastSeq = 0;
    this.#dropped = 0;
    this.#names.clear();
    this.#refreshNameOptions();
  }

  #showNoEngine(): void {
    this.#message.textContent = 'No synclane engine in this page yet. Engines register when they open (installDevtoolsHook).';
    this.#message.hidden = false;
    this.#body.hidden = true;
  }

  #showErrors(): void {
    const text = [this.#refreshError, this.#actionError].filter((t) => t !== undefined).join(' · ');
    this.#errorLine.hidden = text === '';
    if (this.#errorLine.textContent !== text) this.#errorLine.textContent = text;
  }

  #setLive(active: boolean): void {
    const state = this.#disposed ? 'stopped' : active ? 'live' : 'paused';
    if (this.#live.dataset['state'] !== state) {
      this.#live.dataset['state'] = state;
      this.#live.textContent = state === 'live' ? '● live' : state === 'paused' ? '❚❚ paused (hidden)' : '';
    }
  }

  // ---- Rendering --------------------------------------------------------------------------

  #render(view: EngineInspection, rows: DevtoolsCycleStats['rows']): void {
    const t = Date.now();
    this.#message.hidden = true;
    this.#body.hidden = false;
    this.#renderStatus(view, t);
    this.#renderOutbox(view.outbox, t, rows);
    this.#renderConflicts(view.conflicts, t);
  }

  #renderStatus(view: EngineInspection, t: number): void {
    const s = view.status;
    const engine = this.#engines.find((e) => e.id === this.#selected);
    this.#statusBox.dataset['state'] = s.state;
    const f = (key: string, text: string | undefined, cls = '') => setFact(this.#statusFacts, key, text, cls);
    f('state', s.state, `sl-state-${s.state}`);
    f('canSyncNow', s.canSyncNow ? 'yes' : s.cooldownMs !== undefined ? `in ${formatDuration(s.cooldownMs)}` : 'no');
    f('online', s.online ? 'yes' : 'no', s.online ? '' : 'sl-state-blocked');
    f('pendingOps', formatCount(s.pendingOps));
    f('failedOps', formatCount(s.failedOps), s.failedOps > 0 ? 'sl-state-failed' : '');
    f('lastSyncedAt', s.lastSyncedAt !== undefined ? formatRelative(s.lastSyncedAt, t) : 'never');
    f('blockedUntil', s.blockedUntil !== undefined ? formatRelative(s.blockedUntil, t) : undefined);
    f('progress', s.progress ? `${formatCount(s.progress.current)} / ${formatCount(s.progress.total)}` : undefined);
    f('lastSyncError', s.lastSyncError ? `${s.lastSyncError.code}: ${s.lastSyncError.message}` : undefined, 'sl-state-error');
    f('leader', engine ? (engine.isSyncLeader ? 'this tab' : 'no') : undefined);

    const c = view.cursor;
    this.#cursorBox.dataset['phase'] = c.phase;
    this.#cursorBox.dataset['cursor'] = String(c.cursor);
    const g = (key: string, text: string | undefined, cls = '') => setFact(this.#cursorFacts, key, text, cls);
    g('phase', c.phase, `sl-state-${c.phase}`);
    g('cursor', formatCount(c.cursor));
    g('tombstones', formatCount(view.tombstones));
    g(
      'storage',
      view.storage ? `${formatBytes(view.storage.usage)} of ${formatBytes(view.storage.quota)} (${view.storage.quota > 0 ? ((100 * view.storage.usage) / view.storage.quota).toFixed(1) : '0'}%)` : 'unknown',
    );
  }

  #renderOutbox(outbox: EngineInspection['outbox'], t: number, rows: DevtoolsCycleStats['rows']): void {
    const { entries, totals } = outbox;
    const countText = totals.count === 0 ? 'empty' : `showing ${formatCount(entries.length)} of ${formatCount(totals.count)} · ${formatBytes(totals.bytes)}`;
    if (this.#outboxCount.textContent !== countText) this.#outboxCount.textContent = countText;
    this.#outboxCount.dataset['shown'] = String(entries.length);
    this.#outboxCount.dataset['total'] = String(totals.count);

    const seen = new Set<string>();
    let cursor: ChildNode | null = this.#outboxBody.firstChild;
    for (const entry of entries) {
      if (seen.has(entry.opId)) continue;
      seen.add(entry.opId);
      let row = this.#outboxRows.get(entry.opId);
      let fresh = false;
      if (!row) {
        row = this.#createOutboxRow(entry);
        this.#outboxRows.set(entry.opId, row);
        rows.created += 1;
        fresh = true;
      } else {
        const sig = outboxSignature(entry, this.#busyOps.has(entry.opId));
        if (sig !== row.sig) {
          this.#fillOutboxRow(row, entry);
          rows.updated += 1;
        } else {
          rows.kept += 1;
        }
      }
      const next = nextAttemptText(entry, t);
      if (next !== row.next) {
        row.next = next;
        row.cells.next.textContent = next;
      }
      if (row.tr === cursor) {
        cursor = cursor.nextSibling;
      } else {
        this.#outboxBody.insertBefore(row.tr, cursor);
        if (!fresh) rows.moved += 1;
      }
    }
    for (const [opId, row] of this.#outboxRows) {
      if (!seen.has(opId)) {
        row.tr.remove();
        this.#outboxRows.delete(opId);
        rows.removed += 1;
      }
    }
  }

  #createOutboxRow(entry: OutboxEntry): OutboxRow {
    const d = this.#doc;
    const td = (cls = '') => el(d, 'td', cls ? { class: cls } : {});
    const cells = {
      table: td(),
      pk: td('sl-mono'),
      op: td(),
      state: el(d, 'span', { class: 'sl-badge' }),
      attempts: td('sl-num'),
      next: td(),
      size: td('sl-num'),
      error: td('sl-wrap'),
      actions: td(),
    };
    const stateCell = td();
    stateCell.append(cells.state);
    const tr = el(d, 'tr', {}, cells.table, cells.pk, cells.op, stateCell, cells.attempts, cells.next, cells.size, cells.error, cells.actions);
    const row: OutboxRow = { tr, sig: '', next: '', cells };
    this.#fillOutboxRow(row, entry);
    return row;
  }

  #fillOutboxRow(row: OutboxRow, e: OutboxEntry): void {
    const busy = this.#busyOps.has(e.opId);
    row.sig = outboxSignature(e, busy);
    const { tr, cells } = row;
    tr.dataset['opId'] = e.opId;
    tr.dataset['state'] = e.state;
    tr.dataset['table'] = e.tableName;
    tr.dataset['pk'] = e.pk;
    cells.table.textContent = e.tableName;
    cells.pk.textContent = e.pk;
    cells.pk.title = `op ${e.opId}\nclock ${e.stamp.clock} · hlc ${e.stamp.hlc}\ncreated ${new Date(e.createdAt).toISOString()}${e.payload !== undefined ? `\n${JSON.stringify(e.payload)}` : ''}`;
    cells.op.textContent = e.op;
    cells.state.textContent = e.state === 'inFlight' ? 'in flight' : e.state;
    cells.state.className = `sl-badge sl-state-${e.state}`;
    cells.attempts.textContent = String(e.attempts);
    cells.size.textContent = formatBytes(e.byteSize);
    const error = e.lastError ? `${e.lastError.code}: ${e.lastError.message}` : '';
    cells.error.textContent = error;
    cells.error.title = error;
    cells.error.className = e.lastError ? 'sl-wrap sl-state-error' : 'sl-wrap';
    if (e.state === 'failed') {
      const retry = el(this.#doc, 'button', { type: 'button', 'data-action': 'retry', title: 'Make this op pending again' }, 'Retry');
      const discard = el(this.#doc, 'button', { type: 'button', 'data-action': 'discard', title: 'Give up on this op (its change is not pushed)' }, 'Discard');
      retry.disabled = busy;
      discard.disabled = busy;
      cells.actions.replaceChildren(el(this.#doc, 'span', { class: 'sl-actions' }, retry, discard));
    } else if (cells.actions.firstChild) {
      cells.actions.replaceChildren();
    }
  }

  #renderConflicts(conflicts: EngineInspection['conflicts'], t: number): void {
    const entries = [...conflicts.entries].sort((a, b) => b.seq - a.seq);
    const countText = conflicts.total === 0 ? 'none' : `showing ${formatCount(entries.length)} of ${formatCount(conflicts.total)}`;
    if (this.#conflictCount.textContent !== countText) this.#conflictCount.textContent = countText;
    const seen = new Set<number>();
    let cursor: ChildNode | null = this.#conflictBody.firstChild;
    for (const c of entries) {
      seen.add(c.seq);
      let row = this.#conflictRows.get(c.seq);
      if (!row) {
        row = this.#createConflictRow(c);
        this.#conflictRows.set(c.seq, row);
      }
      const when = formatRelative(c.at, t);
      if (when !== row.whenText) {
        row.whenText = when;
        row.when.textContent = when;
      }
      if (row.tr === cursor) cursor = cursor.nextSibling;
      else this.#conflictBody.insertBefore(row.tr, cursor);
    }
    for (const [seq, row] of this.#conflictRows) {
      if (!seen.has(seq)) {
        row.tr.remove();
        this.#conflictRows.delete(seq);
      }
    }
  }

  #createConflictRow(c: ConflictRecord): ConflictRow {
    const d = this.#doc;
    const side = (label: string, v: ConflictRecord['local'], extra?: string) => {
      const cell = el(d, 'td', { class: 'sl-mono' }, `${v.op} · clock ${v.stamp.clock}${extra ? ` · ${extra}` : ''}`);
      cell.append(el(d, 'span', { class: 'sl-small' }, `hlc ${v.stamp.hlc} · device ${shortId(v.stamp.deviceId)}`));
      cell.title = `${label}\nop ${v.stamp.opId}\ndevice ${v.stamp.deviceId}\nhlc ${v.stamp.hlc}`;
      return cell;
    };
    const record = el(d, 'td', { class: 'sl-mono' }, `${c.tableName}/${c.pk}`);
    const winner = el(d, 'td', {}, el(d, 'span', { class: `sl-badge ${c.winner === 'local' ? 'sl-state-ok' : 'sl-state-pending'}` }, c.winner));
    const when = el(d, 'td', {});
    when.title = new Date(c.at).toISOString();
    const tr = el(
      d,
      'tr',
      { 'data-seq': String(c.seq), 'data-winner': c.winner, 'data-table': c.tableName, 'data-pk': c.pk },
      record,
      side('local', c.local, c.localPending ? 'pending' : undefined),
      side('remote', c.remote),
      winner,
      el(d, 'td', {}, c.duringBootstrap ? 'yes' : '—'),
      when,
    );
    return { tr, when, whenText: '' };
  }

  // ---- Events -----------------------------------------------------------------------------

  async #readEvents(): Promise<void> {
    const id = this.#selected;
    if (!id || this.#disposed) return;
    const page = await this.#source.events(id, this.#lastSeq);
    if (this.#disposed || id !== this.#selected) return;
    if (page.seq < this.#lastSeq) {
      // The registry started over (the page reloaded under the same id): read from scratch.
      this.#clearEvents();
      this.#lastSeq = 0;
      return;
    }
    this.#lastSeq = page.seq;
    this.#dropped += page.dropped;
    if (page.events.length === 0) return;
    const added: StoredEvent[] = [];
    let newName = false;
    for (const event of page.events) {
      const stored = { event, json: safeJson(event.payload) };
      added.push(stored);
      this.#events.push(stored);
      if (!this.#names.has(event.name)) {
        this.#names.add(event.name);
        newName = true;
      }
    }
    const overflow = this.#events.length - this.#o.maxEvents;
    if (overflow > 0) {
      for (const old of this.#events.splice(0, overflow)) {
        this.#renderedEvents.get(old.event.seq)?.remove();
        this.#renderedEvents.delete(old.event.seq);
      }
    }
    if (newName) this.#refreshNameOptions();
    if (this.#eventsPaused) {
      this.#unseenWhilePaused += added.length;
      this.#updatePauseButton();
    } else {
      // Newest first: each newer event goes on top (of a burst, only those that stay drawn).
      for (const stored of added.filter((s) => this.#matches(s)).slice(-this.#o.maxRenderedEvents)) {
        const li = this.#eventItem(stored);
        this.#eventList.insertBefore(li, this.#eventList.firstChild);
        this.#renderedEvents.set(stored.event.seq, li);
      }
      this.#trimRenderedEvents();
    }
    this.#updateEventCount();
  }

  #matches(stored: StoredEvent): boolean {
    if (this.#nameFilter && stored.event.name !== this.#nameFilter) return false;
    if (!this.#textFilter) return true;
    return `${stored.event.name} ${stored.json}`.toLowerCase().includes(this.#textFilter);
  }

  #eventItem(stored: StoredEvent): HTMLLIElement {
    const d = this.#doc;
    const { event, json } = stored;
    return el(
      d,
      'li',
      { 'data-seq': String(event.seq), 'data-name': event.name, title: 'Click to expand' },
      el(d, 'span', { class: 'sl-ev-time' }, formatClock(event.at)),
      el(d, 'span', { class: 'sl-ev-name' }, event.name),
      el(d, 'span', { class: 'sl-ev-payload' }, json.length > 300 ? `${json.slice(0, 300)}…` : json),
    );
  }

  #trimRenderedEvents(): void {
    while (this.#renderedEvents.size > this.#o.maxRenderedEvents) {
      const last = this.#eventList.lastElementChild as HTMLLIElement | null;
      if (!last) break;
      last.remove();
      this.#renderedEvents.delete(Number(last.dataset['seq']));
    }
  }

  /** Draws the list again from the stored events (filters changed, resumed, cleared). */
  #rerenderEvents(): void {
    this.#renderedEvents.clear();
    const fragment = this.#doc.createDocumentFragment();
    for (let i = this.#events.length - 1; i >= 0 && this.#renderedEvents.size < this.#o.maxRenderedEvents; i--) {
      const stored = this.#events[i]!;
      if (!this.#matches(stored)) continue;
      const li = this.#eventItem(stored);
      fragment.append(li);
      this.#renderedEvents.set(stored.event.seq, li);
    }
    this.#eventList.replaceChildren(fragment);
    this.#updateEventCount();
  }

  #clearEvents(): void {
    this.#events = [];
    this.#renderedEvents.clear();
    this.#eventList.replaceChildren();
    this.#unseenWhilePaused = 0;
    this.#updatePauseButton();
    this.#updateEventCount();
  }

  #refreshNameOptions(): void {
    const names = [...this.#names].sort();
    const current = this.#nameFilter;
    this.#eventName.replaceChildren(
      el(this.#doc, 'option', { value: '' }, 'all events'),
      ...names.map((n) => el(this.#doc, 'option', { value: n }, n)),
    );
    if (current && !this.#names.has(current)) this.#eventName.append(el(this.#doc, 'option', { value: current }, current));
    this.#eventName.value = current;
  }

  #updatePauseButton(): void {
    const text = this.#eventsPaused ? `Resume${this.#unseenWhilePaused ? ` (${formatCount(this.#unseenWhilePaused)} new)` : ''}` : 'Pause';
    if (this.#pauseButton.textContent !== text) this.#pauseButton.textContent = text;
    this.#pauseButton.dataset['paused'] = String(this.#eventsPaused);
  }

  #updateEventCount(): void {
    const text = `${formatCount(this.#renderedEvents.size)} shown of ${formatCount(this.#events.length)}${this.#dropped ? ` · ${formatCount(this.#dropped)} dropped` : ''}`;
    if (this.#eventCount.textContent !== text) this.#eventCount.textContent = text;
  }

  // ---- Actions ----------------------------------------------------------------------------

  async #act(action: 'retry' | 'discard', opId: string): Promise<void> {
    const id = this.#selected;
    if (!id || this.#busyOps.has(opId)) return;
    this.#busyOps.add(opId);
    const row = this.#outboxRows.get(opId);
    row?.cells.actions.querySelectorAll('button').forEach((b) => (b.disabled = true));
    try {
      if (action === 'retry') await this.#source.retryOp(id, opId);
      else await this.#source.discardOp(id, opId);
      this.#actionError = undefined;
    } catch (error) {
      const err = describe(error);
      this.#actionError = `${action === 'retry' ? 'Retry' : 'Discard'} of ${opId} failed: ${err.code}: ${err.message}`;
    } finally {
      this.#busyOps.delete(opId);
    }
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

    const facts = (map: Facts, cls: string, testid: string, defs: Array<[string, string]>) => {
      const box = el(d, 'div', { class: `sl-facts ${cls}`, 'data-testid': testid });
      for (const [key, label] of defs) {
        const value = el(d, 'span', { class: 'sl-v' });
        const wrap = el(d, 'span', { class: 'sl-fact', 'data-key': key }, el(d, 'span', { class: 'sl-k' }, label), value);
        wrap.hidden = true;
        map.set(key, { wrap, value, text: '', cls: '' });
        box.append(wrap);
      }
      return box;
    };
    this.#statusBox = facts(this.#statusFacts, 'sl-status', 'status', [
      ['state', 'state'],
      ['canSyncNow', 'can sync'],
      ['online', 'online'],
      ['pendingOps', 'outbox ops'],
      ['failedOps', 'failed'],
      ['lastSyncedAt', 'last synced'],
      ['blockedUntil', 'blocked until'],
      ['progress', 'progress'],
      ['lastSyncError', 'last error'],
      ['leader', 'sync leader'],
    ]);
    this.#cursorBox = facts(this.#cursorFacts, 'sl-cursor', 'cursor', [
      ['phase', 'phase'],
      ['cursor', 'cursor'],
      ['tombstones', 'tombstones'],
      ['storage', 'storage'],
    ]);
    const overview = el(d, 'section', { class: 'sl-section sl-overview' }, el(d, 'h2', {}, 'Status'), this.#statusBox, this.#cursorBox);

    this.#outboxCount = el(d, 'span', { class: 'sl-sub sl-outbox-count', 'data-testid': 'outbox-count' });
    this.#outboxBody = el(d, 'tbody', { class: 'sl-outbox', 'data-testid': 'outbox-rows' });
    this.#outboxBody.addEventListener('click', (event) => {
      const button = (event.target as Element | null)?.closest?.('button[data-action]') as HTMLButtonElement | null;
      const opId = (button?.closest('tr') as HTMLTableRowElement | null)?.dataset['opId'];
      const action = button?.dataset['action'];
      if (!button || button.disabled || !opId || (action !== 'retry' && action !== 'discard')) return;
      void this.#act(action, opId);
    });
    const outbox = el(
      d,
      'section',
      { class: 'sl-section sl-outbox-section', 'data-testid': 'outbox' },
      el(d, 'h2', {}, 'Outbox', this.#outboxCount),
      el(d, 'div', { class: 'sl-table-wrap' }, el(d, 'table', {}, headRow(d, ['Table', 'Key', 'Op', 'State', 'Attempts', 'Next retry', 'Size', 'Last error', '']), this.#outboxBody)),
    );

    this.#conflictCount = el(d, 'span', { class: 'sl-sub sl-conflict-count', 'data-testid': 'conflict-count' });
    this.#conflictBody = el(d, 'tbody', { class: 'sl-conflicts', 'data-testid': 'conflict-rows' });
    const conflicts = el(
      d,
      'section',
      { class: 'sl-section sl-conflict-section', 'data-testid': 'conflicts' },
      el(d, 'h2', {}, 'Conflicts', this.#conflictCount),
      el(d, 'div', { class: 'sl-table-wrap sl-short' }, el(d, 'table', {}, headRow(d, ['Record', 'Local', 'Remote', 'Winner', 'During bootstrap', 'When']), this.#conflictBody)),
    );

    this.#eventCount = el(d, 'span', { class: 'sl-sub sl-event-count', 'data-testid': 'event-count' });
    this.#eventFilter = el(d, 'input', { type: 'search', class: 'sl-event-filter', 'data-testid': 'event-filter', placeholder: 'Filter events (text)', 'aria-label': 'Filter events' });
    this.#eventFilter.addEventListener('input', () => {
      this.#textFilter = this.#eventFilter.value.trim().toLowerCase();
      this.#rerenderEvents();
    });
    this.#eventName = el(d, 'select', { class: 'sl-event-name', 'data-testid': 'event-name', 'aria-label': 'Event name' });
    this.#eventName.addEventListener('change', () => {
      this.#nameFilter = this.#eventName.value;
      this.#rerenderEvents();
    });
    this.#pauseButton = el(d, 'button', { type: 'button', class: 'sl-events-pause', 'data-action': 'pause-events' });
    this.#pauseButton.addEventListener('click', () => {
      this.#eventsPaused = !this.#eventsPaused;
      if (!this.#eventsPaused) {
        this.#unseenWhilePaused = 0;
        this.#rerenderEvents();
      }
      this.#updatePauseButton();
    });
    const clear = el(d, 'button', { type: 'button', class: 'sl-events-clear', 'data-action': 'clear-events' }, 'Clear');
    clear.addEventListener('click', () => this.#clearEvents());
    this.#eventList = el(d, 'ul', { class: 'sl-events', 'data-testid': 'events' });
    this.#eventList.addEventListener('click', (event) => {
      const li = (event.target as Element | null)?.closest?.('li[data-seq]') as HTMLLIElement | null;
      if (!li) return;
      const stored = this.#events.find((s) => s.event.seq === Number(li.dataset['seq']));
      const payload = li.querySelector('.sl-ev-payload');
      if (!stored || !payload) return;
      const expanded = li.classList.toggle('sl-expanded');
      payload.textContent = expanded ? safeJson(stored.event.payload, 2) : stored.json.length > 300 ? `${stored.json.slice(0, 300)}…` : stored.json;
    });
    this.#refreshNameOptions();
    this.#updatePauseButton();
    this.#updateEventCount();
    const events = el(
      d,
      'section',
      { class: 'sl-section sl-event-section', 'data-testid': 'event-stream' },
      el(d, 'h2', {}, 'Events', this.#eventCount),
      el(d, 'div', { class: 'sl-event-controls' }, this.#eventFilter, this.#eventName, this.#pauseButton, clear),
      el(d, 'div', { class: 'sl-events-wrap' }, this.#eventList),
    );

    this.#body = el(d, 'div', { class: 'sl-section sl-body' }, overview, outbox, conflicts, events);
    this.#body.hidden = true;
    return el(d, 'div', { class: `sl-root sl-theme-${this.#o.theme}`, 'data-testid': 'synclane-devtools' }, header, this.#errorLine, this.#message, this.#body);
  }
}

// ---- Helpers --------------------------------------------------------------------------------

function el<K extends keyof HTMLElementTagNameMap>(doc: Document, tag: K, attrs: Record<string, string>, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const node = doc.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'class') node.className = value;
    else node.setAttribute(name, value);
  }
  if (children.length) node.append(...children);
  return node;
}

function headRow(doc: Document, labels: string[]): HTMLTableSectionElement {
  return el(doc, 'thead', {}, el(doc, 'tr', {}, ...labels.map((l) => el(doc, 'th', {}, l))));
}

function setFact(facts: Facts, key: string, text: string | undefined, cls: string): void {
  const fact = facts.get(key);
  if (!fact) return;
  fact.wrap.hidden = text === undefined;
  if (text !== undefined && text !== fact.text) {
    fact.text = text;
    fact.value.textContent = text;
  }
  if (cls !== fact.cls) {
    fact.cls = cls;
    fact.value.className = cls ? `sl-v ${cls}` : 'sl-v';
  }
}

function outboxSignature(e: OutboxEntry, busy: boolean): string {
  return `${e.state}|${e.attempts}|${e.byteSize}|${e.op}|${e.tableName}|${e.pk}|${e.stamp.clock}|${e.stamp.hlc}|${e.lastError?.code ?? ''}|${e.lastError?.message ?? ''}|${busy}`;
}

function nextAttemptText(e: OutboxEntry, t: number): string {
  if (e.state === 'failed') return '— (waits for retry)';
  if (e.state === 'inFlight') return 'pushing';
  return e.nextAttemptAt <= t ? 'due' : formatRelative(e.nextAttemptAt, t);
}

function engineLabel(e: EngineSummary): string {
  return `${e.workspaceId} · ${e.dbName} · device ${shortId(e.deviceId)}${e.isSyncLeader ? ' · leader' : ''}`;
}

function describe(error: unknown): { code: string; message: string } {
  const e = error as { code?: unknown; message?: unknown } | null;
  return { code: typeof e?.code === 'string' ? e.code : 'error', message: typeof e?.message === 'string' ? e.message : String(error) };
}

function safeJson(value: unknown, indent?: number): string {
  try {
    return JSON.stringify(value, null, indent) ?? 'undefined';
  } catch {
    return String(value);
  }
}

function isShadowRoot(node: HTMLElement | ShadowRoot): node is ShadowRoot {
  return node.nodeType === 11 && 'host' in node;
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

/**
 * Puts the stylesheet in the shadow root: adopted when the browser can (constructed sheets are
 * not subject to the page's style CSP), else a `<style>`. Returns the function removing it.
 */
function adoptStyles(doc: Document, shadow: ShadowRoot): () => void {
  const view = doc.defaultView as (Window & typeof globalThis) | null;
  if (view && 'adoptedStyleSheets' in shadow && typeof view.CSSStyleSheet?.prototype?.replaceSync === 'function') {
    let sheet = sheets.get(doc);
    if (!sheet) {
      sheet = new view.CSSStyleSheet();
      sheet.replaceSync(PANEL_CSS);
      sheets.set(doc, sheet);
    }
    const adopted = sheet;
    if (!shadow.adoptedStyleSheets.includes(adopted)) shadow.adoptedStyleSheets = [...shadow.adoptedStyleSheets, adopted];
    return () => {
      shadow.adoptedStyleSheets = shadow.adoptedStyleSheets.filter((s) => s !== adopted);
    };
  }
  const style = doc.createElement('style');
  style.textContent = PANEL_CSS;
  shadow.append(style);
  return () => style.remove();
}
