// The provider conformance kit: MemorySyncProvider passes every case, in every setup the kit
// supports, and deliberately broken providers fail the case that targets their breach.
import { test, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { synclane, loadWasm, packageDir } from './support/synclane.mjs';

const { MemorySyncProvider, TestDevice, providerConformanceCases, runProviderConformance, SyncError } = synclane;

before(loadWasm);

/** Two devices on one server whose tombstones expire at once, and a hook that purges them. */
async function memorySetup() {
  const provider = new MemorySyncProvider({ id: 'device-a', serverOptions: { tombstoneRetentionMs: 0 } });
  const other = new MemorySyncProvider({ id: 'device-b', server: provider.server });
  const scope = { workspaceId: `conformance-${Math.random().toString(36).slice(2)}` };
  const expireCursors = async () => {
    const device = new TestDevice('gc');
    await provider.push({ scope, deviceId: device.deviceId, ops: [device.put('conformance_items', 'doomed', 1)] });
    const deleted = await provider.push({
      scope, deviceId: device.deviceId, ops: [device.delete('conformance_items', 'doomed', 2)],
    });
    await provider.updateCursor(scope, device.deviceId, deleted.serverVersion);
    assert.ok(provider.collectGarbage() >= 1, 'the tombstone was purged');
    return provider.stats(scope.workspaceId).floor - 1;
  };
  return { provider, other, scope, expireCursors };
}

describe('MemorySyncProvider passes every conformance case (one node:test per case)', () => {
  for (const conformanceCase of providerConformanceCases(memorySetup)) {
    test(conformanceCase.name, async () => {
      assert.deepEqual(await conformanceCase.run(), { status: 'passed' });
    });
  }
});

test('the kit has the documented cases', () => {
  const names = providerConformanceCases(memorySetup).map((c) => c.name);
  assert.equal(names.length, 11);
  for (const fragment of ['one result per op', 'idempotent', 'paginated', 'table filter', 'higher clock', 'higher hlc',
    'tombstones', 'cursor_expired', 'subscribe', 'malformed', 'updateCursor']) {
    assert.ok(names.some((n) => n.includes(fragment)), fragment);
  }
});

test('a single provider with no other client, no scope and the expiry knob also passes', async () => {
  let cleanups = 0;
  const report = await runProviderConformance(async () => {
    const provider = new MemorySyncProvider();
    return {
      provider,
      expireCursors: async () => {
        provider.setFaults({ expireCursorBelow: 1_000_000 });
        return 10;
      },
      cleanup: async () => {
        cleanups += 1;
        provider.dispose();
      },
    };
  });
  assert.deepEqual(report.failed.map((f) => `${f.name}: ${f.error.message}`), []);
  assert.equal(report.passed.length, 11);
  assert.equal(cleanups, 11, 'every case tears its setup down');
});

test('without an expireCursors hook the expiry case is skipped with a note', async () => {
  const report = await runProviderConformance(async () => ({ provider: new MemorySyncProvider() }));
  assert.deepEqual(report.failed, []);
  assert.equal(report.passed.length, 10);
  assert.equal(report.skipped.length, 1);
  assert.match(report.skipped[0].name, /cursor_expired/);
  assert.match(report.skipped[0].reason, /skipped: the factory has no expireCursors hook/);
});

test('the conformance entry point exports the kit alone', async () => {
  const kit = await import(`${packageDir}dist/conformance.js`);
  assert.equal(kit.providerConformanceCases, providerConformanceCases);
  assert.equal(typeof kit.runProviderConformance, 'function');
  assert.equal(kit.MemorySyncProvider, undefined);
});

test('generated stamps are valid HLC strings that sort like time', () => {
  const { hlcAt } = synclane;
  const early = hlcAt(Date.UTC(2025, 0, 1), 1n);
  const late = hlcAt(Date.UTC(2025, 0, 1) + 1, 1n);
  assert.match(early, /^[0-9a-f]{16}-[0-9a-f]{16}$/);
  assert.ok(early < late);
  assert.equal(early.slice(0, 8), Math.floor(Date.UTC(2025, 0, 1) / 1000).toString(16).padStart(8, '0'));
  assert.throws(() => hlcAt(0, 0n), RangeError);
  // The wasm clock parses them: merging a kit stamp works, and its own stamps look the same.
  const clock = new synclane.SyncClock('device');
  assert.equal(clock.merge(hlcAt(Date.now(), 7n)), 0);
  assert.match(clock.now(), /^[0-9a-f]{16}-[0-9a-f]{16}$/);
});

// ----- Broken providers: the kit must catch each breach with the case that targets it. -----

/** A MemorySyncProvider behind a wrapper that changes one behaviour. */
function broken(change) {
  return async () => {
    const setup = await memorySetup();
    const wrap = (inner) => {
      const outer = {
        id: inner.id,
        mode: inner.mode,
        subscribe: (...args) => inner.subscribe(...args),
        pull: (request) => inner.pull(request),
        push: (batch) => inner.push(batch),
        updateCursor: (...args) => inner.updateCursor(...args),
        dispose: () => inner.dispose(),
      };
      return Object.assign(outer, change(inner));
    };
    return { ...setup, provider: wrap(setup.provider), other: wrap(setup.other) };
  };
}

async function expectCaseFails(factory, namePart, messagePattern) {
  const report = await runProviderConformance(factory, { deliveryTimeoutMs: 300, quietMs: 50 });
  const failure = report.failed.find((f) => f.name.includes(namePart));
  assert.ok(failure, `expected "${namePart}" to fail; failed: ${JSON.stringify(report.failed.map((f) => f.name))}`);
  assert.match(failure.error.message, messagePattern);
  assert.ok(report.passed.length > 0, 'unrelated cases still pass');
  return report;
}

test('a provider that drops the last change of every page fails the pagination case', async () => {
  await expectCaseFails(
    broken((inner) => ({
      pull: async (request) => {
        const page = await inner.pull(request);
        return { ...page, changes: page.changes.slice(0, -1) };
      },
    })),
    'paginated',
    /is missing from the pull/,
  );
});

test('a provider that does not deduplicate retried ops fails the idempotency case', async () => {
  let retry = 0;
  await expectCaseFails(
    broken((inner) => ({
      // Gives every op a fresh id, as a backend that ignores opId would treat it.
      push: async (batch) => {
        retry += 1;
        const ops = batch.ops.map((op) => ({ ...op, stamp: { ...op.stamp, opId: `${op.stamp.opId}~${retry}` } }));
        const result = await inner.push({ ...batch, ops });
        return { ...result, results: result.results.map((r, i) => ({ ...r, opId: batch.ops[i].stamp.opId })) };
      },
    })),
    'idempotent',
    /expected "duplicate"/,
  );
});

test('a provider that reorders push results fails the ordering case', async () => {
  await expectCaseFails(
    broken((inner) => ({
      push: async (batch) => {
        const result = await inner.push(batch);
        return { ...result, results: [...result.results].reverse() };
      },
    })),
    'one result per op',
    /results follow the batch's order/,
  );
});

test('a provider whose subscriptions never deliver fails the subscription case', async () => {
  await expectCaseFails(
    broken(() => ({ subscribe: async () => () => {} })),
    'subscribe',
    /was not delivered within 300 ms/,
  );
});

test('a provider whose unsubscribe does nothing fails the subscription case', async () => {
  await expectCaseFails(
    broken((inner) => ({ subscribe: async (scope, tables, fn) => (await inner.subscribe(scope, tables, fn), () => {}) })),
    'subscribe',
    /after unsubscribe was still delivered/,
  );
});

test('a provider that stores non-object payloads fails the malformed-push case', async () => {
  await expectCaseFails(
    broken((inner) => ({
      push: (batch) =>
        inner.push({
          ...batch,
          ops: batch.ops.map((op) =>
            op.payload !== undefined && typeof op.payload !== 'object' ? { ...op, payload: { value: op.payload } } : op),
        }),
    })),
    'malformed',
    /must fail with code "invalid_payload", but it succeeded/,
  );
});

test('a provider that loses the error code of an expired cursor fails the expiry case', async () => {
  await expectCaseFails(
    broken((inner) => ({
      pull: async (request) => {
        try {
          return await inner.pull(request);
        } catch (error) {
          throw new Error(`HTTP 410: ${error.message}`);
        }
      },
    })),
    'cursor_expired',
    /must fail with code "cursor_expired", but it failed with undefined/,
  );
});

test('a provider where the last writer wins (no conflict rule) fails the conflict cases', async () => {
  // Re-stamps every op with a clock above anything stored: arrival order decides.
  let clock = 1000;
  await expectCaseFails(
    broken((inner) => ({
      push: (batch) => inner.push({ ...batch, ops: batch.ops.map((op) => ({ ...op, stamp: { ...op.stamp, clock: ++clock } })) }),
    })),
    'higher clock',
    /expected "superseded"/,
  );
});

test('a case that hangs fails with a timeout instead of hanging the run', async () => {
  const [first] = providerConformanceCases(
    async () => ({ provider: { ...new MemorySyncProvider(), id: 'stuck', mode: 'direct', push: () => new Promise(() => {}) } }),
    { caseTimeoutMs: 100 },
  );
  await assert.rejects(first.run(), /did not finish within 100 ms/);
});

test('unexpected provider errors name the call and the code', async () => {
  const report = await runProviderConformance(async () => {
    const provider = new MemorySyncProvider({ faults: { failNext: [{ op: 'push', code: 'unauthorized', times: 1000 }] } });
    return { provider };
  });
  assert.equal(report.passed.length, 0);
  const messages = report.failed.map((f) => f.error.message);
  assert.ok(messages.some((m) => /push of \d+ op\(s\) failed unexpectedly: unauthorized/.test(m)), messages.join('\n'));
  assert.ok(report.failed.every((f) => f.error instanceof Error && !(f.error instanceof SyncError)));
});
