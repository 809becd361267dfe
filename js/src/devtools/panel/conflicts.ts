/**
 * The panel's conflict view: the latest conflicts, newest first, keyed by sequence number;
 * only their relative times change once drawn.
 *
 * @module
 */

import { formatCount, formatRelative, shortId } from '../format.js';
import type { ConflictRecord, EngineInspection } from '../types.js';
import { el, headRow, section, setText } from './dom.js';

interface ConflictRow {
  tr: HTMLTableRowElement;
  when: HTMLTableCellElement;
  whenText: string;
}

export class ConflictsView {
  /** The view's section. */
  readonly element: HTMLElement;
  #doc: Document;
  #count: HTMLElement;
  #body: HTMLTableSectionElement;
  #rows = new Map<number, ConflictRow>();

  constructor(d: Document) {
    this.#doc = d;
    this.#count = el(d, 'span', { class: 'sl-sub sl-conflict-count', 'data-testid': 'conflict-count' });
    this.#body = el(d, 'tbody', { class: 'sl-conflicts', 'data-testid': 'conflict-rows' });
    this.element = section(
      d,
      { class: 'sl-section sl-conflict-section', 'data-testid': 'conflicts' },
      'Conflicts',
      this.#count,
      el(d, 'div', { class: 'sl-table-wrap sl-short' }, el(d, 'table', {}, headRow(d, ['Record', 'Local', 'Remote', 'Winner', 'During bootstrap', 'When']), this.#body)),
    );
  }

  /** Forgets every row (another engine is shown). */
  reset(): void {
    this.#body.replaceChildren();
    this.#rows.clear();
  }

  /** Shows the latest conflicts at time `t`. */
  render(conflicts: EngineInspection['conflicts'], t: number): void {
    const entries = [...conflicts.entries].sort((a, b) => b.seq - a.seq);
    setText(this.#count, conflicts.total === 0 ? 'none' : `showing ${formatCount(entries.length)} of ${formatCount(conflicts.total)}`);
    const seen = new Set<number>();
    let cursor: ChildNode | null = this.#body.firstChild;
    for (const c of entries) {
      seen.add(c.seq);
      let row = this.#rows.get(c.seq);
      if (!row) {
        row = this.#create(c);
        this.#rows.set(c.seq, row);
      }
      const when = formatRelative(c.at, t);
      if (when !== row.whenText) {
        row.whenText = when;
        row.when.textContent = when;
      }
      if (row.tr === cursor) cursor = cursor.nextSibling;
      else this.#body.insertBefore(row.tr, cursor);
    }
    for (const [seq, row] of this.#rows) {
      if (!seen.has(seq)) {
        row.tr.remove();
        this.#rows.delete(seq);
      }
    }
  }

  #create(c: ConflictRecord): ConflictRow {
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
}
