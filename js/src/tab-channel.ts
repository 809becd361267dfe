/**
 * What the tabs of one app tell each other over a BroadcastChannel per database: the records
 * each one changed (so every tab's watchers see them, and the tab that runs the sync loop
 * pushes the others' writes), and requests to sync, which the tab running the loop obliges.
 *
 * @module
 */

import type { SyncTrigger } from './types/sync.js';

const CHANNEL_PREFIX = 'synclane:';
/**
 * How long changes wait to be told to the other tabs, gathered into one message per table. A
 * message costs a structured clone and a hop between processes (about 70 µs, a twentieth of a
 * single write); within a frame, an app writing record after record sends a few instead of one
 * per write, and the other tabs still see every change before their next frame is drawn.
 */
const BROADCAST_DELAY_MS = 16;

/** The outbox's totals after a local write. */
type Totals = { count: number; bytes: number };

/** What tabs of one app tell each other: what they changed, or a request to sync. */
type ChannelMessage = { table: string; ids: string[]; local?: Totals } | { syncRequest: SyncTrigger };

/** One tab's end of the channel. */
export interface TabChannel {
  /**
   * Tells the other tabs that `ids` of `table` changed (with the outbox totals, for a local
   * write), in one message per table every `BROADCAST_DELAY_MS`: a burst of writes, even one
   * awaited write after another, shares a few messages, and a write's promise resolves without
   * waiting for them.
   */
  changed(table: string, ids: string[], local?: Totals): void;
  /** Asks the tab that runs the loop for a sync; it hears of this tab's writes first. */
  requestSync(trigger: SyncTrigger): void;
  /** Sends what waits, then closes the channel. */
  close(): void;
}

/**
 * Opens the channel of database `dbName`, on which another tab's changes go to `changed` and
 * its sync requests to `syncRequested`; undefined where there is no BroadcastChannel.
 */
export function openTabChannel(
  dbName: string,
  changed: (table: string, ids: string[], local: Totals | undefined) => void,
  syncRequested: (trigger: SyncTrigger) => void,
): TabChannel | undefined {
  if (typeof BroadcastChannel === 'undefined') return undefined;
  const channel = new BroadcastChannel(CHANNEL_PREFIX + dbName);
  channel.onmessage = (message: MessageEvent<ChannelMessage>) => {
    const data = message.data;
    if ('syncRequest' in data) syncRequested(data.syncRequest);
    else changed(data.table, data.ids, data.local);
  };
  /** Changes not yet told to the other tabs, by table. */
  const outgoing = new Map<string, { ids: Set<string>; local?: Totals }>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    for (const [table, { ids, local }] of outgoing) {
      channel.postMessage({ table, ids: [...ids], ...(local && { local }) });
    }
    outgoing.clear();
  };
  return {
    changed(table, ids, local) {
      const pending = outgoing.get(table) ?? { ids: new Set<string>() };
      for (const id of ids) pending.ids.add(id);
      // Totals are absolute: the newest replaces the older.
      if (local) pending.local = local;
      outgoing.set(table, pending);
      timer ??= setTimeout(flush, BROADCAST_DELAY_MS);
    },
    requestSync(trigger) {
      // The leader must hear of this tab's writes before it syncs for it.
      flush();
      channel.postMessage({ syncRequest: trigger });
    },
    close() {
      flush();
      channel.close();
    },
  };
}
