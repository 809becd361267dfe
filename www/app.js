// The playground: two simulated devices syncing through the reference server rules
// (MemorySyncServer, compiled from the Rust core). Each device keeps its notes and an outbox of
// unpushed ops; online devices push and pull every second. The full engine (IndexedDB, outbox
// with retries, live subscription) replaces these devices as it lands.
import init, { MemorySyncServer, SyncClock } from '/dist/wasm/synclane.js';

await init();
const server = new MemorySyncServer();
const scope = { workspaceId: 'playground' };
const logList = document.getElementById('server-log');

function log(text) {
  const item = document.createElement('li');
  item.textContent = text;
  logList.prepend(item);
}

class Device {
  constructor(name, root) {
    this.name = name;
    this.clock = new SyncClock(name);
    this.notes = new Map(); // pk -> { title, deleted, stamp }
    this.outbox = new Map(); // pk -> PendingOp; a second write replaces the waiting op
    this.cursor = 0;
    this.online = true;
    this.ops = 0;
    this.root = root;
    root.append(document.getElementById('device-template').content.cloneNode(true));
    root.querySelector('.name').textContent = name;
    root.querySelector('.online input').addEventListener('change', (e) => {
      this.online = e.target.checked;
      root.classList.toggle('offline', !this.online);
    });
    root.querySelector('.editor').addEventListener('submit', (e) => {
      e.preventDefault();
      const form = new FormData(e.target);
      this.write(String(form.get('pk')), 'put', String(form.get('title')));
      e.target.elements.title.value = '';
    });
    this.render();
  }

  write(pk, op, title) {
    const clock = (this.notes.get(pk)?.stamp.clock ?? 0) + 1;
    const stamp = { clock, hlc: this.clock.now(), deviceId: this.name, opId: `${this.name}-${++this.ops}-${Date.now()}` };
    this.notes.set(pk, { title, deleted: op === 'delete', stamp });
    this.outbox.set(pk, { tableName: 'notes', pk, op, payload: op === 'put' ? { id: pk, title } : undefined, stamp });
    this.render();
  }

  take(change) {
    this.clock.merge(change.stamp.hlc);
    if (this.outbox.has(change.pk)) return; // a local op waits: the server will decide
    this.notes.set(change.pk, { title: change.payload?.title, deleted: change.op === 'delete', stamp: change.stamp });
  }

  sync() {
    if (!this.online) return;
    const ops = [...this.outbox.values()];
    if (ops.length > 0) {
      const result = server.push({ scope, deviceId: this.name, ops });
      ops.forEach((op, i) => {
        const outcome = result.results[i];
        log(`${this.name} pushed ${op.op} ${op.pk} (clock ${op.stamp.clock}): ${outcome.status}`);
        if (this.outbox.get(op.pk) === op) this.outbox.delete(op.pk);
        if (outcome.current) this.take(outcome.current);
      });
    }
    for (let more = true; more; ) {
      const page = server.pull({ scope, cursor: this.cursor, limit: 100, deviceId: this.name });
      page.changes.forEach((change) => this.take(change));
      this.cursor = page.nextCursor;
      more = page.hasMore;
    }
    server.updateCursor(scope.workspaceId, this.name, this.cursor);
    this.render();
  }

  render() {
    const list = this.root.querySelector('.notes');
    list.replaceChildren(
      ...[...this.notes.entries()]
        .filter(([, note]) => !note.deleted)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([pk, note]) => {
          const item = document.createElement('li');
          item.classList.toggle('pending', this.outbox.has(pk));
          const text = document.createElement('span');
          text.innerHTML = '<b></b> <span></span> <small></small>';
          text.querySelector('b').textContent = pk;
          text.querySelector('span').textContent = note.title;
          text.querySelector('small').textContent = `clock ${note.stamp.clock} · ${note.stamp.deviceId}`;
          const remove = document.createElement('button');
          remove.textContent = 'delete';
          remove.addEventListener('click', () => this.write(pk, 'delete'));
          item.append(text, remove);
          return item;
        }),
    );
    this.root.querySelector('.outbox').textContent =
      `outbox: ${this.outbox.size} pending · cursor ${this.cursor}${this.online ? '' : ' · offline'}`;
  }
}

const devices = [...document.querySelectorAll('.device')].map((root) => new Device(root.dataset.device, root));
setInterval(() => {
  devices.forEach((device) => device.sync());
  const stats = server.stats(scope.workspaceId);
  document.getElementById('server-stats').textContent =
    `version ${stats.version} · ${stats.records} notes · ${stats.tombstones} tombstones · ${stats.devices} devices`;
}, 1000);
