/**
 * Which tab runs the sync loop of a database: the one holding its Web Lock. Without Web Locks
 * (older browsers, Node) every engine leads its own loop.
 *
 * @module
 */

/** The page's lock manager, if the platform has one. */
const webLocks = (): LockManager | undefined => (globalThis.navigator as { locks?: LockManager } | undefined)?.locks;

/** The Web Lock held by the tab that runs the loop for database `dbName`. */
export const lockName = (dbName: string): string => `synclane:sync:${dbName}`;

/**
 * Waits for the lock, then calls `granted` with the function that releases it (none without
 * Web Locks: `granted` runs at once). A grant that `wanted()` no longer wants is given back at
 * once. Returns what withdraws the request while it waits (nothing without Web Locks).
 */
export function requestLock(name: string, wanted: () => boolean, granted: (release?: () => void) => void): AbortController | undefined {
  const locks = webLocks();
  if (!locks) {
    granted();
    return undefined;
  }
  const abort = new AbortController();
  locks
    .request(name, { signal: abort.signal }, () => {
      // Granted to a start() that a stop() has since ended: give it back at once.
      if (!wanted()) return undefined;
      return new Promise<void>((release) => granted(release));
    })
    // An AbortError when the request was withdrawn.
    .catch(() => undefined);
  return abort;
}

/** Runs `work` only if nobody holds the lock (and holds it meanwhile); without Web Locks, always. */
export async function ifLockFree(name: string, work: () => Promise<unknown>): Promise<void> {
  const locks = webLocks();
  if (!locks) {
    await work();
    return;
  }
  await locks.request(name, { ifAvailable: true }, async (lock) => {
    if (lock) await work();
  });
}
