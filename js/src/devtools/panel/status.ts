/**
 * The panel's status view: the sync status (state, whether a sync can start, outbox counts,
 * errors, leadership) and the cursor (phase, position, tombstones, storage use), as facts that
 * show only when they have a value.
 *
 * @module
 */

import { formatBytes, formatCount, formatDuration, formatRelative } from '../format.js';
import type { EngineInspection, EngineSummary } from '../types.js';
import { el } from './dom.js';

type Facts = Map<string, { wrap: HTMLElement; value: HTMLElement; text: string; cls: string }>;

export class StatusView {
  /** The view's section. */
  readonly element: HTMLElement;
  #statusFacts: Facts = new Map();
  #cursorFacts: Facts = new Map();
  #statusBox: HTMLElement;
  #cursorBox: HTMLElement;

  constructor(d: Document) {
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
    this.element = el(d, 'section', { class: 'sl-section sl-overview' }, el(d, 'h2', {}, 'Status'), this.#statusBox, this.#cursorBox);
  }

  /** Shows `view` of `engine` (its summary, for leadership) at time `t`. */
  render(view: EngineInspection, engine: EngineSummary | undefined, t: number): void {
    const s = view.status;
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
