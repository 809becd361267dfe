// A plain Vite app (no plugins) using the packed synclane tarball: two devices with separate
// databases sync through MemorySyncProvider over one in-page reference server.
import { initSynclane, SyncEngine, SyncError } from 'synclane';
import { initMemoryServer, MemorySyncProvider, MemorySyncServer } from 'synclane/memory';

window.runScenario = async () => {
  await Promise.all([initSynclane(), initMemoryServer()]);
  const server = new MemorySyncServer();
  const open = (name) =>
    SyncEngine.open({
      workspaceId: 'vite-demo',
      dbName: `vite-${name}-${Math.random()}`,
      tables: [{ name: 'notes', indexes: [{ name: 'byTitle', keyPath: 'title' }] }],
      provider: new MemorySyncProvider({ id: `memory-${name}`, server }),
      sync: { manualCooldownMs: 0 },
    });
  const laptop = await open('laptop');
  const phone = await open('phone');
  const events = [];
  phone.hooks.on('sync.conflict:action:detected', (e) => events.push(`conflict ${e.pk} winner=${e.winner}`));
  const watched = [];
  phone.watch('notes', (e) => watched.push(`${e.source}:${e.ids.join(',')}`));

  await laptop.put('notes', { id: 'n1', title: 'from the laptop' });
  await laptop.put('notes', { id: 'shared', title: 'laptop version' });
  await phone.put('notes', { id: 'n2', title: 'from the phone' });
  await phone.put('notes', { id: 'shared', title: 'phone version 1' });
  await phone.put('notes', { id: 'shared', title: 'phone version 2' }); // clock 2: wins
  await laptop.delete('notes', 'n1');

  for (const engine of [laptop, phone, laptop]) {
    const decision = await engine.syncNow();
    if (decision.action !== 'start') throw new Error(`sync did not start: ${decision.reason}`);
    if (decision.report.error) throw decision.report.error;
  }
  // Two tabs of one app share a database: a write in one reaches the other's watchers.
  const tabA = await SyncEngine.open({ workspaceId: 'vite-tabs', dbName: 'vite-tabs', tables: ['notes'] });
  const tabB = await SyncEngine.open({ workspaceId: 'vite-tabs', dbName: 'vite-tabs', tables: ['notes'] });
  const otherTab = new Promise((resolve) => tabB.watch('notes', (e) => resolve(`${e.source}:${e.ids.join(',')}`)));
  await tabA.put('notes', { id: 't1', title: 'written in tab A' });
  const otherTabEvent = await otherTab;
  const readInTabB = (await tabB.get('notes', 't1'))?.title;
  await tabA.close();
  await tabB.close();

  const titles = async (engine) => (await engine.getAll('notes')).map((n) => `${n.id}=${n.title}`).sort();
  let badBatch;
  try {
    await laptop.put('ghosts', { id: 'x' });
  } catch (error) {
    badBatch = { isSyncError: error instanceof SyncError, code: error.code };
  }
  const result = {
    laptop: await titles(laptop),
    phone: await titles(phone),
    laptopOutbox: (await laptop.outbox()).totals.count,
    phoneOutbox: (await phone.outbox()).totals.count,
    events,
    watched,
    badBatch,
    otherTabEvent,
    readInTabB,
    cursor: (await phone.cursor()).cursor,
  };
  await laptop.close();
  await phone.close();
  document.getElementById('status').textContent = 'done';
  return result;
};
document.getElementById('status').textContent = 'ready';
