/**
 * The limits and retention the Convex functions run under: the reference server's defaults,
 * lowered where Convex's own limits are lower (a document holds at most 1 MiB, a mutation
 * writes at most 16 MiB and 16,000 documents, a function reads at most 16 MiB).
 *
 * @module
 */

/** Size limits of what the functions accept and hand out. */
export type SynclaneLimits = {
  /** The most ops a push may carry (default 1000, as the reference server). */
  maxBatchLen: number;
  /** The most payload bytes (JSON text, UTF-8) a push may carry (default 8 MiB). */
  maxBatchBytes: number;
  /**
   * The largest payload, as JSON text in UTF-8 bytes (default and at most 1,000,000: the
   * record's document must stay under Convex's 1 MiB with its metadata).
   */
  maxPayloadBytes: number;
  /** The longest primary key in UTF-8 bytes (default 512, as the core). */
  maxKeyBytes: number;
  /** The longest `deviceId` and `opId` in UTF-8 bytes (default 256, as the core). */
  maxIdBytes: number;
  /** A stamp further ahead of the server's clock than this is refused with `clock_skew` (24 h). */
  rejectFutureMs: number;
  /** The largest page a pull returns, in changes (default 1000, as the reference server). */
  maxPullLimit: number;
  /**
   * A pull page stops before the payload that would take it past this many bytes (default
   * 4 MiB), and always holds at least one change: a query reads at most 16 MiB.
   */
  maxPageBytes: number;
};

/** When tombstones are purged. */
export type SynclaneRetention = {
  /** How long a tombstone is kept at least, so slow devices learn of the delete (7 days). */
  tombstoneRetentionMs: number;
  /** A device not seen for this long no longer holds back purging (30 days). */
  deviceTtlMs: number;
  /** The most tombstones one `collectGarbage` run purges (default 1000). */
  maxPurgesPerRun: number;
};

const DAY = 24 * 60 * 60 * 1000;
const MIB = 1024 * 1024;

/** The largest payload a record's document can hold beside its metadata. */
export const MAX_PAYLOAD_BYTES = 1_000_000;

/** The default limits. */
export const DEFAULT_LIMITS: Readonly<SynclaneLimits> = Object.freeze({
  maxBatchLen: 1000,
  maxBatchBytes: 8 * MIB,
  maxPayloadBytes: MAX_PAYLOAD_BYTES,
  maxKeyBytes: 512,
  maxIdBytes: 256,
  rejectFutureMs: DAY,
  maxPullLimit: 1000,
  maxPageBytes: 4 * MIB,
});

/** The default retention. */
export const DEFAULT_RETENTION: Readonly<SynclaneRetention> = Object.freeze({
  tombstoneRetentionMs: 7 * DAY,
  deviceTtlMs: 30 * DAY,
  maxPurgesPerRun: 1000,
});

/** The settings the functions run under, complete. */
export type Settings = { limits: SynclaneLimits; retention: SynclaneRetention };

/**
 * Completes the app's options with the defaults. A value that is not a positive whole number,
 * or a payload limit Convex could not store, is refused when the functions are built (when the
 * app's module loads) rather than on some later push.
 */
export function resolveSettings(
  limits: Partial<SynclaneLimits> | undefined,
  retention: Partial<SynclaneRetention> | undefined,
): Settings {
  const resolved: Settings = {
    limits: { ...DEFAULT_LIMITS, ...definedOnly(limits) },
    retention: { ...DEFAULT_RETENTION, ...definedOnly(retention) },
  };
  for (const [group, values] of Object.entries(resolved)) {
    for (const [name, value] of Object.entries(values as Record<string, unknown>)) {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
        throw new Error(`synclaneFunctions: ${group}.${name} must be a positive whole number, got ${String(value)}`);
      }
    }
  }
  if (resolved.limits.maxPayloadBytes > MAX_PAYLOAD_BYTES) {
    throw new Error(
      `synclaneFunctions: limits.maxPayloadBytes is at most ${MAX_PAYLOAD_BYTES} (a Convex document holds 1 MiB), got ${resolved.limits.maxPayloadBytes}`,
    );
  }
  return resolved;
}

function definedOnly<T extends object>(values: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(values ?? {}).filter(([, value]) => value !== undefined)) as Partial<T>;
}
