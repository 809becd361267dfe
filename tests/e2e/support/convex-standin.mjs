// A local stand-in for a Convex deployment: an HTTP server on 127.0.0.1 that speaks the
// `convex` client's WebSocket sync protocol (the messages `ConvexClient` from `convex/browser`
// sends for queries, subscriptions, mutations and auth) over one convex-test backend holding the
// test app of tests/convex (its schema and functions, bundled here with esbuild).
//
// Client messages answered: `Connect` (nothing is sent back), `Authenticate` (`User` tokens are
// JWTs whose payload is decoded unverified; `sub` becomes the identity's subject, a token that
// does not decode runs signed out; `None` signs out), `ModifyQuerySet` (`Add` / `Remove`), `Mutation`, `Action` (always fails: the test app
// has none) and `Event` (ignored). Server messages sent: `Transition` (startVersion → endVersion
// over querySet, identity and ts, with `QueryUpdated` / `QueryFailed` / `QueryRemoved`),
// `MutationResponse` and `Ping`. `ConvexHttpClient`'s POST /api/query and /api/mutation are
// answered too. Values travel as `convexToJson`, a ts as the base64 of a
// little-endian u64. Every function call runs one at a time (as Convex's transactions are
// serializable), and after each mutation every socket's queries are re-run and a Transition
// with the new ts is sent to each (the updates of the queries whose results changed).
//
// Faults for tests: `dropNextAck(match)` applies the next matching mutation and closes its
// socket instead of answering, as an acknowledgement lost in transit.
//
// Use: `const standin = await startConvexStandin(); standin.url; await standin.stop();`
// or run it alone: `node tests/e2e/support/convex-standin.mjs` prints its URL.
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const testApp = fileURLToPath(new URL('../../convex/', import.meta.url));
const MODULES = ['closed', 'open', 'schema', 'smallPages', 'synclane', 'synclaneDefaults'];

/** Bundles convex-test with the test app (schema, functions, `_generated`) into one module. */
async function loadBackend() {
  const dir = mkdtempSync(join(tmpdir(), 'synclane-convex-standin-'));
  const outfile = join(dir, 'backend.mjs');
  const entries = [...MODULES.map((m) => `./convex/${m}.ts`), './convex/_generated/api.ts', './convex/_generated/dataModel.ts'];
  const contents = [
    `import { convexTest } from 'convex-test';`,
    `import { convexToJson, jsonToConvex } from 'convex/values';`,
    `import { makeFunctionReference } from 'convex/server';`,
    `import schema from './convex/schema.ts';`,
    `const modules = {`,
    ...entries.map((path) => `  ${JSON.stringify(path)}: () => import(${JSON.stringify(path)}),`),
    `};`,
    `export function backend() { return convexTest(schema, modules); }`,
    `export { convexToJson, jsonToConvex, makeFunctionReference };`,
  ].join('\n');
  try {
    await build({
      stdin: { contents, resolveDir: testApp, loader: 'ts', sourcefile: 'standin-backend.ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    logLevel: 'error',
    banner: { js: `import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);` },
    });
    const mod = await import(pathToFileURL(outfile).href);
    return { ...mod, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The base64 of `ts` as a little-endian u64, as the client's `u64ToLong` reads it. */
function encodeTs(ts) {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(BigInt(ts));
  return bytes.toString('base64');
}

/** The unverified payload of a JWT, or null. */
function jwtPayload(token) {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
  } catch {
    return null;
  }
}

/** An unsigned JWT for `subject`, valid for a day: what the test's `setAuth` fetchers return. */
export function tokenFor(subject) {
  const now = Math.floor(Date.now() / 1000);
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ sub: subject, iss: 'synclane-standin', iat: now, exp: now + 86_400 })}.`;
}

// ---- A minimal WebSocket server side (RFC 6455: text frames, ping/pong, close; no extensions) ----

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function frame(opcode, payload) {
  const len = payload.length;
  let header;
  if (len < 126) header = Buffer.from([0x80 | opcode, len]);
  else if (len < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 126;
    header.writeUInt16BE(len, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([header, payload]);
}

/** Wraps an upgraded socket: `onText(string)` per message, `onClose()` once; returns `{ send, close, destroy }`. */
function webSocket(socket, onText, onClose) {
  let buffer = Buffer.alloc(0);
  let fragments = [];
  let closed = false;
  const finish = () => {
    if (closed) return;
    closed = true;
    onClose();
  };
  socket.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (buffer.length < 2) return;
      const fin = (buffer[0] & 0x80) !== 0;
      const opcode = buffer[0] & 0x0f;
      const masked = (buffer[1] & 0x80) !== 0;
      let len = buffer[1] & 0x7f;
      let offset = 2;
      if (len === 126) {
        if (buffer.length < 4) return;
        len = buffer.readUInt16BE(2);
        offset = 4;
      } else if (len === 127) {
        if (buffer.length < 10) return;
        len = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      const maskOffset = offset;
      if (masked) offset += 4;
      if (buffer.length < offset + len) return;
      const payload = Buffer.from(buffer.subarray(offset, offset + len));
      if (masked) for (let i = 0; i < len; i++) payload[i] ^= buffer[maskOffset + (i % 4)];
      buffer = buffer.subarray(offset + len);
      if (opcode === 0x8) {
        if (!socket.destroyed) socket.end(frame(0x8, payload.subarray(0, 2)));
        finish();
        return;
      }
      if (opcode === 0x9) {
        if (!socket.destroyed) socket.write(frame(0xa, payload));
        continue;
      }
      if (opcode === 0xa) continue;
      fragments.push(payload);
      if (fin) {
        const text = Buffer.concat(fragments).toString('utf8');
        fragments = [];
        onText(text);
      }
    }
  });
  socket.on('close', finish);
  socket.on('error', () => socket.destroy());
  return {
    send: (text) => {
      if (!closed && !socket.destroyed) socket.write(frame(0x1, Buffer.from(text, 'utf8')));
    },
    destroy: () => {
      socket.destroy();
      finish();
    },
  };
}

// ---- The stand-in ----

/**
 * Starts the stand-in on 127.0.0.1 (a free port unless `port` is given). Returns its `url`,
 * `stop()`, `run(fn)` (convex-test's `t.run`: direct database access), `query(path, args, subject)`,
 * `dropNextAck(match)`, `disconnect(subject)`, `calls` (every mutation run: `{ udfPath, args, subject }`) and `sockets()`.
 */
export async function startConvexStandin({ port = 0 } = {}) {
  const { backend, convexToJson, jsonToConvex, makeFunctionReference, cleanup } = await loadBackend();
  const t = backend();
  let ts = 1;
  const connections = new Set();
  const calls = [];
  let dropAck = null;

  // Every function call, one at a time.
  let lock = Promise.resolve();
  const serial = (fn) => {
    const result = lock.then(fn);
    lock = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  };

  const asSubject = (subject) => (subject ? t.withIdentity({ subject }) : t);
  const ref = (udfPath) => makeFunctionReference(udfPath.replace(/\.js(?=:)/, ''));
  const errorParts = (error) => {
    const data = error?.data;
    return {
      message: String(error?.message ?? error),
      ...(data !== undefined && { errorData: convexToJson(data) }),
    };
  };

  function connection(raw) {
    const conn = {
      queries: new Map(), // queryId → { udfPath, args, last: JSON text of the last value sent }
      removed: new Set(),
      subject: null,
      target: { querySet: 0, identity: 0 },
      sent: { querySet: 0, identity: 0, ts: 0 },
      closed: false,
    };
    let chain = Promise.resolve();
    const inOrder = (fn) => {
      chain = chain.then(fn).catch((error) => {
        console.error('convex stand-in:', error);
        conn.ws.destroy();
      });
      return chain;
    };
    conn.flush = () =>
      inOrder(() =>
        serial(async () => {
          if (conn.closed) return;
          const modifications = [];
          for (const queryId of conn.removed) modifications.push({ type: 'QueryRemoved', queryId });
          conn.removed.clear();
          for (const [queryId, query] of conn.queries) {
            let modification;
            try {
              const value = convexToJson((await asSubject(conn.subject).query(ref(query.udfPath), query.args)) ?? null);
              modification = { type: 'QueryUpdated', queryId, value, logLines: [] };
            } catch (error) {
              const { message, errorData } = errorParts(error);
              modification = { type: 'QueryFailed', queryId, errorMessage: message, logLines: [], ...(errorData !== undefined && { errorData }) };
            }
            const text = JSON.stringify(modification);
            if (text !== query.last) {
              query.last = text;
              modifications.push(modification);
            }
          }
          const end = { querySet: conn.target.querySet, identity: conn.target.identity, ts };
          const { sent } = conn;
          if (modifications.length === 0 && end.querySet === sent.querySet && end.identity === sent.identity && end.ts === sent.ts) return;
          conn.ws.send(
            JSON.stringify({
              type: 'Transition',
              startVersion: { querySet: sent.querySet, identity: sent.identity, ts: encodeTs(sent.ts) },
              endVersion: { querySet: end.querySet, identity: end.identity, ts: encodeTs(end.ts) },
              modifications,
            }),
          );
          conn.sent = end;
        }),
      );
    const onMessage = (message) => {
      switch (message.type) {
        case 'Connect':
        case 'Event':
          return;
        case 'Authenticate': {
          conn.subject = message.tokenType === 'User' ? (jwtPayload(message.value)?.sub ?? null) : null;
          conn.target.identity = message.baseVersion + 1;
          conn.flush();
          return;
        }
        case 'ModifyQuerySet': {
          for (const modification of message.modifications) {
            if (modification.type === 'Add') {
              conn.queries.set(modification.queryId, { udfPath: modification.udfPath, args: jsonToConvex(modification.args[0] ?? {}), last: undefined });
              conn.removed.delete(modification.queryId);
            } else if (modification.type === 'Remove') {
              if (conn.queries.delete(modification.queryId)) conn.removed.add(modification.queryId);
            }
          }
          conn.target.querySet = message.newVersion;
          conn.flush();
          return;
        }
        case 'Mutation': {
          const { requestId, udfPath } = message;
          const args = jsonToConvex(message.args[0] ?? {});
          inOrder(() =>
            serial(async () => {
              if (conn.closed) return;
              let response;
              calls.push({ udfPath, args, subject: conn.subject });
              try {
                const result = await asSubject(conn.subject).mutation(ref(udfPath), args);
                ts += 1;
                response = { type: 'MutationResponse', requestId, success: true, result: convexToJson(result ?? null), ts: encodeTs(ts), logLines: [] };
              } catch (error) {
                const { message: text, errorData } = errorParts(error);
                response = { type: 'MutationResponse', requestId, success: false, result: text, logLines: [], ...(errorData !== undefined && { errorData }) };
              }
              if (response.success && dropAck && dropAck({ udfPath, args, subject: conn.subject })) {
                dropAck = null;
                conn.ws.destroy();
              } else {
                conn.ws.send(JSON.stringify(response));
              }
            }),
          ).then(() => {
            for (const other of connections) other.flush();
          });
          return;
        }
        case 'Action': {
          conn.ws.send(JSON.stringify({ type: 'ActionResponse', requestId: message.requestId, success: false, result: 'the stand-in runs no actions', logLines: [] }));
          return;
        }
        default:
          conn.ws.send(JSON.stringify({ type: 'FatalError', error: `the stand-in does not know ${message.type}` }));
      }
    };
    conn.ws = webSocket(
      raw,
      (text) => onMessage(JSON.parse(text)),
      () => {
        conn.closed = true;
        connections.delete(conn);
      },
    );
    connections.add(conn);
    return conn;
  }

  // ConvexHttpClient's one-shot calls: POST /api/query and /api/mutation.
  const server = createServer(async (request, response) => {
    const kind = request.method === 'POST' && { '/api/query': 'query', '/api/mutation': 'mutation' }[new URL(request.url, 'http://x').pathname];
    if (!kind) {
      response.writeHead(404, { 'content-type': 'text/plain' });
      response.end('the convex stand-in answers /api/<version>/sync, /api/query and /api/mutation\n');
      return;
    }
    const chunks = [];
    for await (const chunk of request) chunks.push(chunk);
    const answer = (status, body) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
      const subject = bearer ? (jwtPayload(bearer)?.sub ?? null) : null;
      const args = jsonToConvex(body.args?.[0] ?? {});
      let value;
      if (kind === 'query') value = await serial(() => asSubject(subject).query(ref(body.path), args));
      else {
        value = await serial(async () => {
          calls.push({ udfPath: body.path, args, subject });
          const result = await asSubject(subject).mutation(ref(body.path), args);
          ts += 1;
          return result;
        });
        for (const conn of connections) conn.flush();
      }
      answer(200, { status: 'success', value: convexToJson(value ?? null), logLines: [] });
    } catch (error) {
      const { message, errorData } = errorParts(error);
      answer(560, { status: 'error', errorMessage: message, logLines: [], ...(errorData !== undefined && { errorData }) });
    }
  });
  server.on('upgrade', (request, socket) => {
    const key = request.headers['sec-websocket-key'];
    if (!/^\/api\/[^/]+\/sync$/.test(new URL(request.url, 'http://x').pathname) || !key) {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(key + GUID).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    socket.setNoDelay(true);
    connection(socket);
  });
  const ping = setInterval(() => {
    for (const conn of connections) conn.ws.send(JSON.stringify({ type: 'Ping' }));
  }, 5_000);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${server.address().port}`;

  return {
    url,
    calls,
    /** convex-test's `t.run`: a function of the database, outside the protocol. */
    run: (fn) => serial(() => t.run(fn)),
    /** Runs a query as `subject` (or signed out), outside the protocol. */
    query: (udfPath, args, subject) => serial(() => asSubject(subject).query(ref(udfPath), args)),
    /** The next successful mutation `match({ udfPath, args, subject })` accepts is applied, its socket closed unanswered. */
    dropNextAck: (match) => {
      dropAck = match;
    },
    /** Closes the open sockets signed in as `subject` (the client reconnects when it can). */
    disconnect: (subject) => {
      for (const conn of connections) if (conn.subject === subject) conn.ws.destroy();
    },
    /** How many sockets are open. */
    sockets: () => connections.size,
    stop: async () => {
      clearInterval(ping);
      for (const conn of connections) conn.ws.destroy();
      await new Promise((resolve) => server.close(resolve));
      await lock;
      cleanup();
    },
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // Alone: `PORT` (default a free one); `MEMBERS=workspace:user,...` seeds writer members and
  // prints a token for each user.
  const standin = await startConvexStandin({ port: Number(process.env.PORT ?? 0) });
  const members = (process.env.MEMBERS ?? '').split(',').filter(Boolean).map((m) => m.split(':'));
  await standin.run(async (ctx) => {
    for (const [workspaceId, user] of members) await ctx.db.insert('members', { user, workspaceId, role: 'writer' });
  });
  console.log(standin.url);
  for (const user of new Set(members.map(([, user]) => user))) console.log(`${user} ${tokenFor(user)}`);
  const stop = () => standin.stop().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
