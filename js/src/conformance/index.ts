/**
 * The provider conformance kit: checks that a {@link SyncProvider} keeps the protocol's
 * contract (per-op push results in order, idempotency by `opId`, ascending and complete
 * paginated pulls, the conflict rule, tombstones, cursor expiry, subscriptions, rejection of
 * malformed batches, cursor updates).
 *
 * It is runner-agnostic: {@link providerConformanceCases} gives named cases to hand to any
 * test runner, {@link runProviderConformance} runs them all and reports.
 *
 * @example
 * ```ts
 * import { test } from 'node:test';
 * import { providerConformanceCases } from 'synclane/conformance';
 *
 * for (const c of providerConformanceCases(async () => ({ provider: new MyProvider() }))) {
 *   test(c.name, async (t) => {
 *     const outcome = await c.run();
 *     if (outcome.status === 'skipped') t.skip(outcome.reason);
 *   });
 * }
 * ```
 *
 * @module
 */

import type { SyncProvider, SyncScope } from '../types/protocol.js';
import { CASES, type CaseContext } from './cases.js';
import { ConformanceError } from './checks.js';
import { randomId } from './stamps.js';

export { ConformanceError } from './checks.js';
export { hlcAt, TestDevice } from './stamps.js';

/** What a factory hands each case: a fresh setup of the provider under test. */
export interface ConformanceSetup {
  /** The provider under test. */
  provider: SyncProvider;
  /**
   * A second client of the same backend (another device). Used to push while `provider` is
   * subscribed, and for the losing side of conflicts. Default: `provider` itself.
   */
  other?: SyncProvider;
  /** The workspace to use. Default: a fresh random workspace per case. */
  scope?: SyncScope;
  /**
   * Makes the backend expire cursors (for example by purging tombstones or with a fault
   * knob), and returns a cursor that must now be refused with `cursor_expired` (default 0).
   * Without it the cursor-expiry case is skipped.
   */
  expireCursors?: () => Promise<number | void>;
  /**
   * Tears the setup down after the case. Without it the kit calls `dispose()` on the
   * providers.
   */
  cleanup?: () => Promise<void>;
}

/** Makes a fresh {@link ConformanceSetup} for each case. */
export type ConformanceFactory = () => Promise<ConformanceSetup>;

/** Options of the kit. */
export interface ConformanceOptions {
  /**
   * Two table names the backend accepts. Default `['conformance_items', 'conformance_notes']`.
   */
  tables?: readonly [string, string];
  /** How long a subscription may take to deliver a change, in ms. Default 2000. */
  deliveryTimeoutMs?: number;
  /** How long to wait before concluding that an unsubscribed listener gets nothing, in ms. Default 200. */
  quietMs?: number;
  /** A case that takes longer than this fails, in ms. Default 30000. */
  caseTimeoutMs?: number;
}

/** How a case ended when it did not fail. */
export type ConformanceOutcome = { status: 'passed' } | { status: 'skipped'; reason: string };

/** One conformance case. `run` makes its own setup, throws on a breach of the contract. */
export interface ConformanceCase {
  /** What the case checks, as a sentence. */
  readonly name: string;
  /** Runs the case on a fresh setup; rejects with an `Error` saying what broke the contract. */
  run(): Promise<ConformanceOutcome>;
}

/** What {@link runProviderConformance} found. */
export interface ConformanceReport {
  /** Names of the cases that passed. */
  passed: string[];
  /** Cases that failed, with why. */
  failed: { name: string; error: Error }[];
  /** Cases that could not run with this factory (for example no `expireCursors` hook). */
  skipped: { name: string; reason: string }[];
}

/**
 * The conformance cases for the provider that `factory` makes. Each case calls the factory
 * once, runs, and tears the setup down.
 */
export function providerConformanceCases(
  factory: ConformanceFactory,
  options: ConformanceOptions = {},
): ConformanceCase[] {
  return CASES.map(([name, body]) => ({
    name,
    run: () =>
      withTimeout(name, options.caseTimeoutMs ?? 30_000, async (): Promise<ConformanceOutcome> => {
        const setup = await factory();
        try {
          const ctx: CaseContext = {
            provider: setup.provider,
            other: setup.other ?? setup.provider,
            scope: setup.scope ?? { workspaceId: `conformance-${randomId()}` },
            tables: options.tables ?? ['conformance_items', 'conformance_notes'],
            expireCursors: setup.expireCursors,
            deliveryTimeoutMs: options.deliveryTimeoutMs ?? 2_000,
            quietMs: options.quietMs ?? 200,
          };
          const outcome = await body(ctx);
          return outcome ? { status: 'skipped', reason: outcome.skipped } : { status: 'passed' };
        } finally {
          await tearDown(setup);
        }
      }),
  }));
}

/** Runs every case in turn and reports which passed, failed and were skipped. */
export async function runProviderConformance(
  factory: ConformanceFactory,
  options: ConformanceOptions = {},
): Promise<ConformanceReport> {
  const report: ConformanceReport = { passed: [], failed: [], skipped: [] };
  for (const conformanceCase of providerConformanceCases(factory, options)) {
    try {
      const outcome = await conformanceCase.run();
      if (outcome.status === 'skipped') report.skipped.push({ name: conformanceCase.name, reason: outcome.reason });
      else report.passed.push(conformanceCase.name);
    } catch (error) {
      report.failed.push({
        name: conformanceCase.name,
        error: error instanceof Error ? error : new Error(String(error)),
      });
    }
  }
  return report;
}

async function tearDown(setup: ConformanceSetup): Promise<void> {
  if (setup.cleanup) {
    await setup.cleanup();
    return;
  }
  await setup.provider.dispose?.();
  if (setup.other && setup.other !== setup.provider) await setup.other.dispose?.();
}

function withTimeout<R>(name: string, ms: number, run: () => Promise<R>): Promise<R> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ConformanceError(`"${name}" did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([run(), timeout]).finally(() => clearTimeout(timer));
}
