// The demo app: a notes list on two devices ("laptop" and "phone") in one page, each with its
// own database, device id and server token, syncing through the reference server over HTTP.
// The online switch cuts the device's network (its fetch fails and its sync loop stops); the
// write-access switch gives it a read-only token, so the server refuses what it pushes.
import { SyncEngine, HttpSyncProvider, initSynclane } from '/dist/npm/dist/index.js';
import { defineDevtoolsElement } from '/dist/npm/dist/devtools.js';

const params = new URLSearchParams(location.search);
const serverUrl = params.get('server') ?? `http://${location.hostname}:8787`;
const DEVICES = [
  { name: 'laptop', label: 'Laptop', token: 'demo-laptop' },
  { name: 'phone', label: 'Phone', token: 'demo-phone' },
];
document.querySelector('#server-url').textContent = serverUrl;

await initSynclane();
defineDevtoolsElement();

const short = (id) => id.slice(0, 8);
const time = () => new Date().toLocaleTimeString();

async function openDevice({ name, label, token }) {
  const state = { online: true, mayWrite: true };
  const provider = new HttpSyncProvider({
    id: `http-${name}`,
    url: serverUrl,
    // The write-access switch: while off, a read-only token (the server refuses pushes).
    token: () => (state.mayWrite ? token : `${token}-viewer`),
    // The online switch: while off, every request fails as a dropped network would.
    fetch: (input, init) => (state.online ? fetch(input, init) : Promise.reject(new TypeError(`${label} is offline`))),
  });
  const engine = await SyncEngine.open({
    workspaceId: 'demo',
    dbName: `synclane-demo-${name}`,
    tables: ['notes'],
    provider,
    sync: { manualCooldownMs: 0 },
  });
  const view = document.querySelector('#device-template').content.firstElementChild.cloneNode(true);
  view.dataset.device = name;
  view.querySelector('.name').textContent = label;
  view.querySelector('.device-id').textContent = `device ${short(engine.deviceId)}`;
  document.querySelector('#devices').append(view);
  const notesList = view.querySelector('.notes');
  const activity = view.querySelector('.activity');

  const log = (text, kind = '') => {
    const item = document.createElement('li');
    item.className = kind;
    item.textContent = `${time()} ${text}`;
    activity.prepend(item);
    while (activity.children.length > 8) activity.lastElementChild.remove();
  };

  const flashed = new Set();
  /** A note's list item; its handlers read the note it shows now (`item.note`). */
  function noteItem(id) {
    const item = document.createElement('li');
    item.dataset.id = id;
    const text = document.createElement('input');
    text.className = 'note-text';
    text.setAttribute('aria-label', 'note');
    text.addEventListener('change', () => engine.put('notes', { ...item.note, title: text.value }));
    const remove = document.createElement('button');
    remove.className = 'delete';
    remove.textContent = 'Delete';
    remove.addEventListener('click', () => engine.delete('notes', id));
    item.append(text, remove);
    return item;
  }

  async function render() {
    const notes = (await engine.getAll('notes')).sort((a, b) => (a.createdAt ?? 0) - (b.createdAt ?? 0) || a.id.localeCompare(b.id));
    const pending = new Set((await engine.inspect({ outboxLimit: 500, conflictLimit: 0 })).outbox.entries.map((e) => e.pk));
    // Notes keep their elements across renders, and a note being edited keeps its text: a sync
    // that lands while someone types must not throw the typing away.
    const existing = new Map([...notesList.children].map((item) => [item.dataset.id, item]));
    const items = notes.map((note) => {
      const item = existing.get(note.id) ?? noteItem(note.id);
      item.note = note;
      const text = item.querySelector('.note-text');
      if (document.activeElement !== text) text.value = note.title;
      item.classList.toggle('pending', pending.has(note.id));
      item.classList.toggle('flash', flashed.has(note.id));
      return item;
    });
    const unchanged = items.length === notesList.children.length && items.every((item, i) => notesList.children[i] === item);
    if (!unchanged) notesList.replaceChildren(...items);
    flashed.clear();
    const status = await engine.status();
    const badge = view.querySelector('.status');
    badge.textContent = `${state.online ? status.state : 'offline'} · ${status.pendingOps} pending${status.failedOps ? ` · ${status.failedOps} failed` : ''}`;
    badge.dataset.state = state.online ? status.state : 'offline';
  }

  let queued = false;
  const rerender = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      void render();
    });
  };
  engine.watch('notes', (event) => {
    if (event.source === 'remote') for (const id of event.ids) flashed.add(id);
    rerender();
  });
  for (const name of ['sync.job.completed', 'sync.job.failed', 'sync.push:action:after', 'sync.job.blocked']) engine.hooks.on(name, rerender);
  engine.hooks.on('sync.conflict:action:detected', (e) => {
    const local = `clock ${e.local.stamp.clock}`;
    const remote = `clock ${e.remote.stamp?.clock}`;
    log(`conflict on "${e.pk}": ${e.winner} version won (local ${local}, remote ${remote})`, 'conflict');
  });
  engine.hooks.on('sync.push:action:after', (e) => log(`pushed ${e.batch.ops.length} op(s)`));
  engine.hooks.on('sync.pull:action:applied', (e) => e.applied > 0 && log(`applied ${e.applied} change(s) from the server`));
  engine.hooks.on('sync.error:action', (e) => log(`${e.error.code}: ${e.error.message}${e.willRetry ? ' (will retry)' : ''}`, 'error'));

  view.querySelector('.online-toggle input').addEventListener('change', async (event) => {
    state.online = event.target.checked;
    view.classList.toggle('offline', !state.online);
    if (state.online) {
      log('back online');
      engine.start();
    } else {
      log('offline: edits wait in the outbox');
      await engine.stop();
    }
    rerender();
  });
  view.querySelector('.access-toggle input').addEventListener('change', (event) => {
    state.mayWrite = event.target.checked;
    view.classList.toggle('read-only', !state.mayWrite);
    log(state.mayWrite ? 'write access back: retry failed ops from the panel' : 'read-only: the server refuses this device\'s pushes');
  });
  view.querySelector('.new-note').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = event.target.elements.title;
    await engine.put('notes', { id: crypto.randomUUID().slice(0, 8), title: input.value, createdAt: Date.now() });
    input.value = '';
  });

  engine.start();
  await render();
  return { engine, view };
}

const devices = [];
for (const device of DEVICES) devices.push(await openDevice(device));
// A first note so there is something to edit on both sides (once per workspace).
const [laptop] = devices;
await laptop.engine.syncNow();
if ((await laptop.engine.getAll('notes')).length === 0) {
  await laptop.engine.put('notes', { id: 'welcome', title: 'Edit me on both devices while they are offline', createdAt: Date.now() });
}
window.demo = { devices: Object.fromEntries(devices.map((d, i) => [DEVICES[i].name, d.engine])) };
document.body.dataset.ready = 'true';
