// The provider conformance kit run against ConvexSyncProvider over the real functions, on
// convex-test's backend: two devices (two clients of one backend), the app's `authorize`
// (members only) letting the signed-in user into the case's workspace, and cursors expired by
// purging a tombstone once its retention and every device's TTL have passed.
import { convexTest } from 'convex-test';
import { afterEach, expect, test, vi } from 'vitest';
import { providerConformanceCases, TestDevice } from '../../js/src/conformance/index.js';
import { ConvexSyncProvider } from '../../js/src/convex/index.js';
import { TestHub } from './client.js';
import schema from './convex/schema.js';
import { api, internal, modules } from './setup.js';

const DAY = 24 * 60 * 60 * 1000;

afterEach(() => {
  vi.useRealTimers();
});

async function convexSetup() {
  // Real time: the kit stamps with the clock and waits for deliveries.
  vi.useRealTimers();
  const t = convexTest({ schema, modules, transactionLimits: true });
  const hub = new TestHub(t);
  const workspaceId = `conformance-${Math.random().toString(36).slice(2)}`;
  await t.run((ctx) => ctx.db.insert('members', { user: 'alice', workspaceId, role: 'writer' }));
  const make = () =>
    new ConvexSyncProvider({ client: hub.client('alice'), functions: api.synclane, delivery: 'changes' });
  const provider = make();
  const other = make();
  const scope = { workspaceId };
  const expireCursors = async () => {
    const device = new TestDevice('gc');
    await provider.push({ scope, deviceId: device.deviceId, ops: [device.put('conformance_items', 'doomed', 1)] });
    const deleted = await provider.push({
      scope, deviceId: device.deviceId, ops: [device.delete('conformance_items', 'doomed', 2)],
    });
    await provider.updateCursor(scope, device.deviceId, deleted.serverVersion);
    // Past the tombstone's retention and every device's TTL, the purge may run.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 31 * DAY);
    const run = await t.mutation(internal.synclane.collectGarbage, { workspaceId });
    vi.useRealTimers();
    expect(run.purged).toBeGreaterThanOrEqual(1);
    const page = await provider.pull({ scope, cursor: 0, limit: 1, snapshot: true });
    return page.retentionFloor - 1;
  };
  return { provider, other, scope, expireCursors };
}

for (const conformanceCase of providerConformanceCases(convexSetup)) {
  test(`ConvexSyncProvider: ${conformanceCase.name}`, async () => {
    expect(await conformanceCase.run()).toEqual({ status: 'passed' });
  });
}

test('the kit ran all of its cases', () => {
  expect(providerConformanceCases(convexSetup)).toHaveLength(11);
});
