/**
 * The `text/event-stream` format, parsed incrementally, as the subscription's stream delivers it.
 *
 * @module
 */

import { SyncError } from '../../errors.js';

/** A stream line longer than this is not the protocol's: the stream is dropped. */
const MAX_LINE_CHARS = 1 << 20;

/** One server-sent event. */
export interface SseEvent {
  /** The `event:` field; `'message'` when absent. */
  type: string;
  /** The `data:` lines, joined with `\n`. */
  data: string;
}

/**
 * An incremental parser of the `text/event-stream` format (the WHATWG rules): lines end with
 * CRLF, LF or CR, possibly split across chunks; `:` starts a comment; a blank line dispatches
 * the event when it has data. Fields other than `event` and `data` are ignored.
 */
export class SseParser {
  #buffer = '';
  /** The previous chunk ended with CR: a LF that starts the next one belongs to it. */
  #skipLf = false;
  #type = '';
  #data: string[] = [];

  /** Feeds decoded text; returns the events it completed. */
  push(chunk: string): SseEvent[] {
    let text = this.#buffer + chunk;
    if (this.#skipLf && text.startsWith('\n')) text = text.slice(1);
    this.#skipLf = false;
    const events: SseEvent[] = [];
    let start = 0;
    for (;;) {
      const cr = text.indexOf('\r', start);
      const lf = text.indexOf('\n', start);
      if (cr === -1 && lf === -1) break;
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        end = cr;
        next = cr + 1;
        if (text[next] === '\n') next += 1;
        else if (next === text.length) this.#skipLf = true;
      } else {
        end = lf;
        next = lf + 1;
      }
      this.#line(text.slice(start, end), events);
      start = next;
    }
    this.#buffer = text.slice(start);
    if (this.#buffer.length > MAX_LINE_CHARS) {
      throw new SyncError('server_error', `subscribe: a stream line is over ${MAX_LINE_CHARS} characters`);
    }
    return events;
  }

  #line(line: string, events: SseEvent[]): void {
    if (line === '') {
      if (this.#data.length > 0) events.push({ type: this.#type || 'message', data: this.#data.join('\n') });
      this.#type = '';
      this.#data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#type = value;
    else if (field === 'data') this.#data.push(value);
  }
}
