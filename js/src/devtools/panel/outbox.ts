/**
 * The panel's outbox view: one row per op, keyed by op id, updated in place when its
 * signature changes, with Retry and Discard on failed ops.
 *
 * @module
 */

import { formatBytes, formatCount, formatRelative } from '../format.js';
import type { DevtoolsCycleStats, EngineInspection, OutboxEntry } from '../types.js';
import { el, headRow, section, setText } from './dom.js';

/** What the app may do to a failed op from the panel. */
export type OutboxAction = 'retry' | 'discard';

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

export class OutboxView {
  /** The view's section. */
  readonly element: HTMLElement;
  #doc: Document;
  #count: HTMLElement;
  #body: HTMLTableSectionElement;
  #rows = new Map<string, OutboxRow>();
  /** Ops with an action under way: their buttons stay disabled. */
  #busyOps = new Set<string>();

  /** `act` runs when a button of a failed op is clicked. */
  constructor(d: Document, act: (action: OutboxAction, opId: string) => void) {
    this.#doc = d;
    this.#count = el(d, 'span', { class: 'sl-sub sl-outbox-count', 'data-testid': 'outbox-count' });
    this.#body = el(d, 'tbody', { class: 'sl-outbox', 'data-testid': 'outbox-rows' });
    this.#body.addEventListener('click', (event) => {
      const button = (event.target as Element | null)?.closest?.('button[data-action]') as HTMLButtonElement | null;
      const opId = (button?.closest('tr') as HTMLTableRowElement | null)?.dataset['opId'];
      const action = button?.dataset['action'];
      if (!button || button.disabled || !opId || (action !== 'retry' && action !== 'discard')) return;
      act(action, opId);
    });
    this.element = section(
      d,
      { class: 'sl-section sl-outbox-section', 'data-testid': 'outbox' },
      'Outbox',
      this.#count,
      el(d, 'div', { class: 'sl-table-wrap' }, el(d, 'table', {}, headRow(d, ['Table', 'Key', 'Op', 'State', 'Attempts', 'Next retry', 'Size', 'Last error', '']), this.#body)),
    );
  }

  /** How many rows are drawn. */
  get size(): number {
    return this.#rows.size;
  }

  /** Forgets every row (another engine is shown). */
  reset(): void {
    this.#body.replaceChildren();
    this.#rows.clear();
  }

  /**
   * Runs `work` for `opId` with its buttons disabled; resolves to false, without running it,
   * when an action on the op is already under way.
   */
  async whileBusy(opId: string, work: () => Promise<void>): Promise<boolean> {
    if (this.#busyOps.has(opId)) return false;
    this.#busyOps.add(opId);
    this.#rows.get(opId)?.cells.actions.querySelectorAll('button').forEach((b) => (b.disabled = true));
    try {
      await work();
    } finally {
      this.#busyOps.delete(opId);
    }
    return true;
  }

  /** Shows the head of the outbox at time `t`, counting what happened to the rows. */
  render(outbox: EngineInspection['outbox'], t: number, rows: DevtoolsCycleStats['rows']): void {
    const { entries, totals } = outbox;
    setText(this.#count, totals.count === 0 ? 'empty' : `showing ${formatCount(entries.length)} of ${formatCount(totals.count)} · ${formatBytes(totals.bytes)}`);
    this.#count.dataset['shown'] = String(entries.length);
    this.#count.dataset['total'] = String(totals.count);

    const seen = new Set<string>();
    let cursor: ChildNode | null = this.#body.firstChild;
    for (const entry of entries) {
      if (seen.has(entry.opId)) continue;
      seen.add(entry.opId);
      let row = this.#rows.get(entry.opId);
      let fresh = false;
      if (!row) {
        row = this.#create(entry);
        this.#rows.set(entry.opId, row);
        rows.created += 1;
        fresh = true;
      } else {
        const sig = outboxSignature(entry, this.#busyOps.has(entry.opId));
        if (sig !== row.sig) {
          this.#fill(row, entry);
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
        this.#body.insertBefore(row.tr, cursor);
        if (!fresh) rows.moved += 1;
      }
    }
    for (const [opId, row] of this.#rows) {
      if (!seen.has(opId)) {
        row.tr.remove();
        this.#rows.delete(opId);
        rows.removed += 1;
      }
    }
  }

  #create(entry: OutboxEntry): OutboxRow {
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
    this.#fill(row, entry);
    return row;
  }

  #fill(row: OutboxRow, e: OutboxEntry): void {
    const d = this.#doc;
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
      const retry = el(d, 'button', { type: 'button', 'data-action': 'retry', title: 'Make this op pending again' }, 'Retry');
      const discard = el(d, 'button', { type: 'button', 'data-action': 'discard', title: 'Give up on this op (its change is not pushed)' }, 'Discard');
      retry.disabled = busy;
      discard.disabled = busy;
      cells.actions.replaceChildren(el(d, 'span', { class: 'sl-actions' }, retry, discard));
    } else if (cells.actions.firstChild) {
      cells.actions.replaceChildren();
    }
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
