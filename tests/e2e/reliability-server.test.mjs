// Hostile and slow clients against the reference server (release binary, SQLite): trickled
// headers and bodies, idle connections up to the cap, table names and workspace ids crafted as
// SQL or paths, and garbage bodies. Each is refused or bounded, leaks nothing, and the server
// keeps answering well-behaved clients quickly throughout. (Tokens and size limits are covered
// in server.test.mjs.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { join } from 'node:path';
import { startSyncServer, tempDir } from '../../scripts/sync-server.mjs';
import { synclane } from '../js/support/synclane.mjs';

const { HttpSyncProvider, TestDevice } = synclane;
const ADMIN = 'admin-secret';
const HEADER_TIMEOUT_MS = 1_500;
const REQUEST_TIMEOUT_MS = 2_000;
const MAX_CONNECTIONS = 40;

let dir;
let server;
let host;
let port;

before(async () => {
  dir = tempDir();
  server = await startSyncServer({
    db: join(dir.dir, 'hostile.db'),
    tokens: ['alpha-token=alpha', 'beta-token=beta'],
    settings: {
      adminToken: ADMIN,
      headerReadTimeoutMs: HEADER_TIMEOUT_MS,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      maxConnections: MAX_CONNECTIONS,
      rateLimit: { perSecond: 100000, burst: 100000 },
    },
  });
  ({ hostname: host, port } = new URL(server.url));
});

after(async () => {
  await server?.stop();
  dir?.remove();
});

/** A raw TCP connection; resolves `closedAt` when the server closes it. */
function rawConnection() {
  const socket = net.connect(Number(port), host);
  socket.on('error', () => {});
  const opened = Date.now();
  let received = '';
  socket.on('data', (d) => { received += d; });
  const closed = new Promise((resolve) => socket.once('close', () => resolve(Date.now() - opened)));
  return { socket, closed, received: () => received };
}

/** A well-behaved client's round trip: a pull, timed. */
async function wellBehavedPull() {
  const started = Date.now();
  const response = await fetch(`${server.url}/v1/pull`, {
    method: 'POST',
    headers: { authorization: 'Bearer alpha-token', 'content-type': 'application/json' },
    body: JSON.stringify({ scope: { workspaceId: 'alpha' }, cursor: 0, limit: 10 }),
  });
  assert.equal(response.status, 200);
  await response.json();
  return Date.now() - started;
}

test('clients trickling their headers are cut off at the header deadline; others are served meanwhile', async () => {
  const slow = Array.from({ length: 20 }, () => rawConnection());
  // One byte of a request line every 200 ms: never a complete header.
  const header = 'POST /v1/pull HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alpha-token\r\nX-Padding: ';
  let sent = 0;
  const trickle = setInterval(() => {
    for (const c of slow) if (!c.socket.destroyed) c.socket.write(header[sent % header.length]);
    sent++;
  }, 200);
  const latencies = [];
  for (let i = 0; i < 10; i++) {
    latencies.push(await wellBehavedPull());
    await new Promise((r) => setTimeout(r, 100));
  }
  const closedAfter = await Promise.all(slow.map((c) => c.closed));
  clearInterval(trickle);
  for (const ms of closedAfter) {
    assert.ok(ms >= HEADER_TIMEOUT_MS - 100 && ms < HEADER_TIMEOUT_MS + 2_000, `a trickling client was closed after ${ms} ms`);
  }
  assert.ok(Math.max(...latencies) < 1_000, `well-behaved pulls took ${latencies} ms`);
  console.log(`slow headers: 20 trickling clients closed after ${Math.min(...closedAfter)}-${Math.max(...closedAfter)} ms; 10 pulls meanwhile took at most ${Math.max(...latencies)} ms`);
});

test('a body trickled slower than the request deadline gets 408 and stores nothing', async () => {
  const before = await (await fetch(`${server.url}/admin/stats?workspaceId=alpha`, { headers: { authorization: `Bearer ${ADMIN}` } })).json();
  const device = new TestDevice('slow-body');
  const body = JSON.stringify({ scope: { workspaceId: 'alpha' }, deviceId: device.deviceId, ops: [device.put('notes', 'slow', 1, { text: 'trickled' })] });
  const c = rawConnection();
  c.socket.write(`POST /v1/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alpha-token\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
  let i = 0;
  const trickle = setInterval(() => {
    if (i < body.length - 1 && !c.socket.destroyed) c.socket.write(body[i++]);
  }, 100);
  const closedAfter = await Promise.race([c.closed, new Promise((r) => setTimeout(() => r('still open'), REQUEST_TIMEOUT_MS + 3_000))]);
  clearInterval(trickle);
  c.socket.destroy();
  assert.match(c.received(), /^HTTP\/1\.1 408/, `answer: ${c.received().slice(0, 80)}`);
  assert.ok(typeof closedAfter === 'number', 'the connection was closed');
  const after = await (await fetch(`${server.url}/admin/stats?workspaceId=alpha`, { headers: { authorization: `Bearer ${ADMIN}` } })).json();
  assert.deepEqual(after, before, 'nothing was stored');
});

/** A pull on a connection of its own (fetch would reuse a pooled one), timed. */
function pullOnNewConnection() {
  const started = Date.now();
  const body = JSON.stringify({ scope: { workspaceId: 'alpha' }, cursor: 0, limit: 10 });
  return new Promise((resolve, reject) => {
    const request = http.request(`${server.url}/v1/pull`, {
      method: 'POST',
      agent: false,
      headers: { authorization: 'Bearer alpha-token', 'content-type': 'application/json', 'content-length': body.length },
    }, (response) => {
      response.resume();
      response.on('end', () => (response.statusCode === 200 ? resolve(Date.now() - started) : reject(new Error(`status ${response.statusCode}`))));
    });
    request.on('error', reject);
    request.end(body);
  });
}

test('idle connections up to the cap are bounded: they are closed and new clients get in', async () => {
  // Hold every slot with connections that never send a byte.
  const idle = Array.from({ length: MAX_CONNECTIONS }, () => rawConnection());
  await new Promise((r) => setTimeout(r, 200));
  const waited = await pullOnNewConnection();
  const closedAfter = await Promise.all(idle.map((c) => c.closed));
  assert.ok(Math.max(...closedAfter) < HEADER_TIMEOUT_MS + 2_000, `idle connections closed after at most ${Math.max(...closedAfter)} ms`);
  // At the cap the newcomer waits in the backlog until the idle ones are cut off: bounded.
  assert.ok(waited >= HEADER_TIMEOUT_MS - 600, `the cap held: the newcomer waited ${waited} ms`);
  assert.ok(waited < HEADER_TIMEOUT_MS + 2_000, `a client arriving at the cap was served after ${waited} ms`);
  assert.ok((await pullOnNewConnection()) < 1_000);
  console.log(`connection cap: ${MAX_CONNECTIONS} idle connections closed within ${Math.max(...closedAfter)} ms; a client arriving at the cap was served after ${waited} ms`);
});

test('table names, workspace ids and cursors crafted as SQL or paths are refused or stored as data', async () => {
  const device = new TestDevice('crafted');
  const sql = `notes'; DROP TABLE sl_records; --`;
  const call = (path, body, token = 'alpha-token') => fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const outcomes = [];
  const cases = [
    ['table name as SQL', '/v1/push', { scope: { workspaceId: 'alpha' }, deviceId: device.deviceId, ops: [{ ...device.put('notes', 'k', 1), tableName: sql }] }, 400],
    ['table name as a path', '/v1/push', { scope: { workspaceId: 'alpha' }, deviceId: device.deviceId, ops: [{ ...device.put('notes', 'k', 1), tableName: '../../etc/passwd' }] }, 400],
    ['internal table name', '/v1/push', { scope: { workspaceId: 'alpha' }, deviceId: device.deviceId, ops: [{ ...device.put('notes', 'k', 1), tableName: 'sl_records' }] }, 200],
    ['workspace id as SQL', '/v1/pull', { scope: { workspaceId: `alpha' OR '1'='1` }, cursor: 0, limit: 10 }, 403],
    ['tables filter as SQL', '/v1/pull', { scope: { workspaceId: 'alpha' }, cursor: 0, limit: 10, tables: [sql] }, 200],
    ['cursor as SQL', '/v1/pull', { scope: { workspaceId: 'alpha' }, cursor: `0; DELETE FROM sl_records`, limit: 10 }, 400],
    ['negative limit', '/v1/pull', { scope: { workspaceId: 'alpha' }, cursor: 0, limit: -1 }, 400],
    ['huge limit', '/v1/pull', { scope: { workspaceId: 'alpha' }, cursor: 0, limit: 1e12 }, 400],
    ['deeply nested body', '/v1/push', `${'['.repeat(100_000)}${']'.repeat(100_000)}`, 400],
    ['not JSON at all', '/v1/push', '\u0000\u0001binary', 400],
    ['a JSON string', '/v1/pull', '"just a string"', 400],
  ];
  for (const [name, path, body, status] of cases) {
    const response = await call(path, body);
    const text = await response.text();
    outcomes.push(`${name}: ${response.status}`);
    assert.equal(response.status, status, `${name}: ${text.slice(0, 200)}`);
    assert.ok(!/sqlite|syntax error|panicked|postgres/i.test(text), `${name}: no internals in ${text.slice(0, 200)}`);
  }
  // What was accepted is data: the records are all there, and the server still answers.
  const provider = new HttpSyncProvider({ url: server.url, token: 'alpha-token' });
  const page = await provider.pull({ scope: { workspaceId: 'alpha' }, cursor: 0, limit: 100 });
  assert.ok(page.changes.some((c) => c.tableName === 'sl_records' && c.pk === 'k'), 'a table named like an internal one is just a name');
  const health = await fetch(`${server.url}/health`);
  assert.equal(health.status, 200);
  console.log(`crafted requests: ${outcomes.join(', ')}`);
});
