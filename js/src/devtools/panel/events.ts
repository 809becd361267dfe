/**
 * The panel's event stream: the engine's hook events read after the last sequence number,
 * newest first, with a text filter, a name filter, pause and clear. The panel keeps
 * `maxEvents` of them and draws at most `maxRenderedEvents`.
 *
 * @module
 */

import { formatClock, formatCount } from '../format.js';
import type { DevtoolsEvent, DevtoolsSource } from '../types.js';
import { el, safeJson, section, setText } from './dom.js';

interface StoredEvent {
  event: DevtoolsEvent;
  /** The payload as one line of JSON, for display and the text filter. */
  json: string;
}

/** A payload's line, cut for the list (the full text shows when the item is expanded). */
const preview = (json: string): string => (json.length > 300 ? `${json.slice(0, 300)}…` : json);

export class EventsView {
  /** The view's section. */
  readonly element: HTMLElement;
  #doc: Document;
  #source: DevtoolsSource;
  /** The engine shown, or undefined once the panel is gone. */
  #current: () => string | undefined;
  #limits: { maxEvents: number; maxRenderedEvents: number };
  #events: StoredEvent[] = [];
  #lastSeq = 0;
  #dropped = 0;
  #names = new Set<string>();
  #rendered = new Map<number, HTMLLIElement>();
  #paused = false;
  #unseenWhilePaused = 0;
  #textFilter = '';
  #nameFilter = '';
  #count: HTMLElement;
  #list: HTMLUListElement;
  #nameSelect: HTMLSelectElement;
  #pauseButton: HTMLButtonElement;

  constructor(d: Document, source: DevtoolsSource, current: () => string | undefined, limits: { maxEvents: number; maxRenderedEvents: number }) {
    this.#doc = d;
    this.#source = source;
    this.#current = current;
    this.#limits = limits;
    this.#count = el(d, 'span', { class: 'sl-sub sl-event-count', 'data-testid': 'event-count' });
    const filter = el(d, 'input', { type: 'search', class: 'sl-event-filter', 'data-testid': 'event-filter', placeholder: 'Filter events (text)', 'aria-label': 'Filter events' });
    filter.addEventListener('input', () => {
      this.#textFilter = filter.value.trim().toLowerCase();
      this.#rerender();
    });
    const nameSelect = el(d, 'select', { class: 'sl-event-name', 'data-testid': 'event-name', 'aria-label': 'Event name' });
    nameSelect.addEventListener('change', () => {
      this.#nameFilter = nameSelect.value;
      this.#rerender();
    });
    this.#nameSelect = nameSelect;
    this.#pauseButton = el(d, 'button', { type: 'button', class: 'sl-events-pause', 'data-action': 'pause-events' });
    this.#pauseButton.addEventListener('click', () => {
      this.#paused = !this.#paused;
      if (!this.#paused) {
        this.#unseenWhilePaused = 0;
        this.#rerender();
      }
      this.#updatePauseButton();
    });
    const clear = el(d, 'button', { type: 'button', class: 'sl-events-clear', 'data-action': 'clear-events' }, 'Clear');
    clear.addEventListener('click', () => this.#clear());
    this.#list = el(d, 'ul', { class: 'sl-events', 'data-testid': 'events' });
    this.#list.addEventListener('click', (event) => {
      const li = (event.target as Element | null)?.closest?.('li[data-seq]') as HTMLLIElement | null;
      if (!li) return;
      const stored = this.#events.find((s) => s.event.seq === Number(li.dataset['seq']));
      const payload = li.querySelector('.sl-ev-payload');
      if (!stored || !payload) return;
      const expanded = li.classList.toggle('sl-expanded');
      payload.textContent = expanded ? safeJson(stored.event.payload, 2) : preview(stored.json);
    });
    this.#refreshNameOptions();
    this.#updatePauseButton();
    this.#updateCount();
    this.element = section(
      d,
      { class: 'sl-section sl-event-section', 'data-testid': 'event-stream' },
      'Events',
      this.#count,
      el(d, 'div', { class: 'sl-event-controls' }, filter, nameSelect, this.#pauseButton, clear),
      el(d, 'div', { class: 'sl-events-wrap' }, this.#list),
    );
  }

  /** Forgets the events read (another engine is shown): the next read starts from the first. */
  reset(): void {
    this.#clear();
    this.#lastSeq = 0;
    this.#dropped = 0;
    this.#names.clear();
    this.#refreshNameOptions();
  }

  /** Reads the events after the last one read, and draws those that pass the filters. */
  async read(): Promise<void> {
    const id = this.#current();
    if (!id) return;
    const page = await this.#source.events(id, this.#lastSeq);
    if (id !== this.#current()) return;
    if (page.seq < this.#lastSeq) {
      // The registry started over (the page reloaded under the same id): read from scratch.
      this.#clear();
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
    const overflow = this.#events.length - this.#limits.maxEvents;
    if (overflow > 0) {
      for (const old of this.#events.splice(0, overflow)) {
        this.#rendered.get(old.event.seq)?.remove();
        this.#rendered.delete(old.event.seq);
      }
    }
    if (newName) this.#refreshNameOptions();
    if (this.#paused) {
      this.#unseenWhilePaused += added.length;
      this.#updatePauseButton();
    } else {
      // Newest first: each newer event goes on top (of a burst, only those that stay drawn).
      for (const stored of added.filter((s) => this.#matches(s)).slice(-this.#limits.maxRenderedEvents)) {
        const li = this.#item(stored);
        this.#list.insertBefore(li, this.#list.firstChild);
        this.#rendered.set(stored.event.seq, li);
      }
      this.#trimRendered();
    }
    this.#updateCount();
  }

  #matches(stored: StoredEvent): boolean {
    if (this.#nameFilter && stored.event.name !== this.#nameFilter) return false;
    if (!this.#textFilter) return true;
    return `${stored.event.name} ${stored.json}`.toLowerCase().includes(this.#textFilter);
  }

  #item(stored: StoredEvent): HTMLLIElement {
    const d = this.#doc;
    const { event, json } = stored;
    return el(
      d,
      'li',
      { 'data-seq': String(event.seq), 'data-name': event.name, title: 'Click to expand' },
      el(d, 'span', { class: 'sl-ev-time' }, formatClock(event.at)),
      el(d, 'span', { class: 'sl-ev-name' }, event.name),
      el(d, 'span', { class: 'sl-ev-payload' }, preview(json)),
    );
  }

  #trimRendered(): void {
    while (this.#rendered.size > this.#limits.maxRenderedEvents) {
      const last = this.#list.lastElementChild as HTMLLIElement | null;
      if (!last) break;
      last.remove();
      this.#rendered.delete(Number(last.dataset['seq']));
    }
  }

  /** Draws the list again from the stored events (filters changed, resumed, cleared). */
  #rerender(): void {
    this.#rendered.clear();
    const fragment = this.#doc.createDocumentFragment();
    for (let i = this.#events.length - 1; i >= 0 && this.#rendered.size < this.#limits.maxRenderedEvents; i--) {
      const stored = this.#events[i]!;
      if (!this.#matches(stored)) continue;
      const li = this.#item(stored);
      fragment.append(li);
      this.#rendered.set(stored.event.seq, li);
    }
    this.#list.replaceChildren(fragment);
    this.#updateCount();
  }

  #clear(): void {
    this.#events = [];
    this.#rendered.clear();
    this.#list.replaceChildren();
    this.#unseenWhilePaused = 0;
    this.#updatePauseButton();
    this.#updateCount();
  }

  #refreshNameOptions(): void {
    const d = this.#doc;
    const names = [...this.#names].sort();
    const current = this.#nameFilter;
    this.#nameSelect.replaceChildren(el(d, 'option', { value: '' }, 'all events'), ...names.map((n) => el(d, 'option', { value: n }, n)));
    if (current && !this.#names.has(current)) this.#nameSelect.append(el(d, 'option', { value: current }, current));
    this.#nameSelect.value = current;
  }

  #updatePauseButton(): void {
    setText(this.#pauseButton, this.#paused ? `Resume${this.#unseenWhilePaused ? ` (${formatCount(this.#unseenWhilePaused)} new)` : ''}` : 'Pause');
    this.#pauseButton.dataset['paused'] = String(this.#paused);
  }

  #updateCount(): void {
    setText(this.#count, `${formatCount(this.#rendered.size)} shown of ${formatCount(this.#events.length)}${this.#dropped ? ` · ${formatCount(this.#dropped)} dropped` : ''}`);
  }
}
