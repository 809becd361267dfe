// An app importing every entry point of the package, compiled under the plain settings of
// ./tsconfig.json: two devices on one in-memory server, the devtools element, errors as JSON.
import { SyncEngine, SyncError, type SyncErrorJson } from 'synclane';
import { initMemoryServer, MemorySyncProvider, MemorySyncServer } from 'synclane/memory';
import { runProviderConformance } from 'synclane/conformance';
import { defineDevtoolsElement } from 'synclane/devtools';

export async function app(): Promise<void> {
  await initMemoryServer();
  const server = new MemorySyncServer();
  const laptopProvider = new MemorySyncProvider({ id: 'laptop', server });
  const laptop = await SyncEngine.open({
    workspaceId: 'acme',
    dbName: 'acme-laptop',
    deviceId: 'laptop',
    tables: ['notes'],
    provider: laptopProvider,
  });
  const phone = await SyncEngine.open({
    workspaceId: 'acme',
    dbName: 'acme-phone',
    deviceId: 'phone',
    tables: ['notes'],
    provider: new MemorySyncProvider({ id: 'phone', server }),
  });
  await laptop.put('notes', { id: 'n1', text: 'hello' });
  await laptop.syncNow();
  await phone.syncNow();
  const note = await phone.get<{ id: string; text: string }>('notes', 'n1');
  void note?.text;
  await phone.delete('notes', 'n1');

  laptopProvider.setFaults({ offline: true });
  laptopProvider.updateFaults({ latencyMs: 50 });
  laptopProvider.setFaults({});

  const decision = await laptop.syncNow();
  const error: SyncErrorJson | undefined = decision.report?.error?.toJSON();
  const retryable: boolean | undefined = error?.retryable;
  void [retryable, new SyncError('network').toJSON().code];

  defineDevtoolsElement();
  const panel = document.createElement('synclane-devtools');
  panel.engine = laptop;
  document.body.append(panel);
  const found = document.querySelector('synclane-devtools');
  if (found) found.engine = phone;

  await runProviderConformance(async () => ({ provider: new MemorySyncProvider() }));
}
