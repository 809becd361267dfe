/**
 * Assertions of the conformance kit, with messages that say what the contract expects, and a
 * checked pull loop.
 *
 * @module
 */

import { toSyncError, type SyncErrorCode } from '../errors.js';
import type { PullRequest, PullResponse, SyncChange, SyncProvider, SyncScope } from '../types/protocol.js';

/** Thrown when a provider breaks the contract. */
export class ConformanceError extends Error {
  override readonly name = 'ConformanceError';
}

/** Fails the case with `message` unless `condition` holds. */
export function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ConformanceError(message);
}

/** A short rendering of a value for messages. */
export function show(value: unknown): string {
  try {
    const text = JSON.stringify(value);
    return text.length > 300 ? `${text.slice(0, 300)}…` : text;
  } catch {
    return String(value);
  }
}

/** Awaits a provider call; a failure names the call and the error's code. */
export async function call<R>(label: string, run: () => Promise<R>): Promise<R> {
  try {
    return await run();
  } catch (error) {
    const sync = toSyncError(error);
    throw new ConformanceError(`${label} failed unexpectedly: ${sync.code}: ${sync.message}`, { cause: error });
  }
}

/** Awaits a call that must fail with `code`. */
export async function expectFailure(label: string, code: SyncErrorCode, run: () => Promise<unknown>): Promise<void> {
  let outcome: unknown;
  try {
    outcome = await run();
  } catch (error) {
    const got = (error as { code?: unknown } | null)?.code;
    expect(
      got === code,
      `${label} must fail with code "${code}", but it failed with ${show(got)}: ${String((error as Error)?.message ?? error)}`,
    );
    return;
  }
  throw new ConformanceError(`${label} must fail with code "${code}", but it succeeded with ${show(outcome)}`);
}

/** What {@link pullAll} returns. */
export interface PullAllResult {
  /** Every change of every page, in order. */
  changes: SyncChange[];
  /** The last page's `nextCursor`. */
  cursor: number;
  /** How many pages it took. */
  pages: number;
}

/**
 * Pulls every page after `from`, checking the pagination contract on the way: pages no larger
 * than the limit, changes after the request's cursor and at most `nextCursor`, ascending
 * across pages, cursors that never move backwards and always progress while `hasMore`.
 */
export async function pullAll(
  provider: SyncProvider,
  scope: SyncScope,
  from: number,
  limit: number,
  tables?: string[],
): Promise<PullAllResult> {
  const changes: SyncChange[] = [];
  let cursor = from;
  let lastVersion = from;
  let retentionFloor: number | undefined;
  for (let pages = 1; pages <= 10_000; pages += 1) {
    const request: PullRequest = { scope, cursor, limit };
    if (tables) request.tables = tables;
    if (retentionFloor !== undefined) request.retentionFloor = retentionFloor;
    const page: PullResponse = await call(`pull from cursor ${cursor}`, () => provider.pull(request));
    expect(
      Array.isArray(page?.changes) && typeof page.nextCursor === 'number' && typeof page.hasMore === 'boolean',
      `pull must answer { changes: [], nextCursor: number, hasMore: boolean }, got ${show(page)}`,
    );
    expect(
      page.changes.length <= limit,
      `pull with limit ${limit} returned ${page.changes.length} changes: pages must respect the limit`,
    );
    expect(
      page.nextCursor >= cursor,
      `pull from cursor ${cursor} answered nextCursor ${page.nextCursor}: cursors never move backwards`,
    );
    for (const change of page.changes) {
      expect(
        typeof change.serverVersion === 'number' && change.serverVersion > lastVersion,
        `pull from cursor ${cursor}: serverVersion ${show(change.serverVersion)} of ${change.tableName}/${change.pk} ` +
          `is not above ${lastVersion}: changes must be ascending and after the cursor`,
      );
      expect(
        change.serverVersion <= page.nextCursor,
        `pull from cursor ${cursor}: a change at version ${change.serverVersion} is beyond nextCursor ${page.nextCursor}`,
      );
      lastVersion = change.serverVersion;
      changes.push(change);
    }
    if (page.total !== undefined) {
      expect(
        page.total >= page.changes.length,
        `pull from cursor ${cursor}: total ${page.total} is less than the ${page.changes.length} changes returned`,
      );
    }
    if (!page.hasMore) return { changes, cursor: page.nextCursor, pages };
    expect(
      page.nextCursor > cursor,
      `pull from cursor ${cursor} said hasMore but nextCursor did not advance (${page.nextCursor}): a client would loop forever`,
    );
    retentionFloor ??= page.retentionFloor;
    cursor = page.nextCursor;
  }
  throw new ConformanceError(`pull from cursor ${from} still had more after 10000 pages`);
}

/** The changes of `changes` whose key is one of `pks`, grouped by pk. */
export function byPk(changes: SyncChange[], pks: readonly string[]): Map<string, SyncChange[]> {
  const wanted = new Set(pks);
  const groups = new Map<string, SyncChange[]>();
  for (const change of changes) {
    if (!wanted.has(change.pk)) continue;
    const list = groups.get(change.pk) ?? [];
    list.push(change);
    groups.set(change.pk, list);
  }
  return groups;
}

/** The single change of `pk` in `groups`; fails when it is missing or repeated. */
export function single(groups: Map<string, SyncChange[]>, pk: string, context: string): SyncChange {
  const list = groups.get(pk) ?? [];
  expect(list.length > 0, `${context}: record ${pk} is missing from the pull`);
  expect(list.length === 1, `${context}: record ${pk} came ${list.length} times; each record must appear once`);
  return list[0] as SyncChange;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
