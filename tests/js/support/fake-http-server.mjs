// A fake of synclane-server for tests: docs/PROTOCOL.md over node:http, backed by the wasm
// MemorySyncServer (the core's own rules), with bearer tokens mapped to workspaces, injectable
// answers (429 with Retry-After, 5xx, slow answers...), and the event stream with knobs to drop
// it. It answers CORS (preflights included, Retry-After exposed) so browser tests can use it from
// another origin.
//
//   const fake = await startFakeSyncServer({ tokens: { 'token-a': '*', 'token-b': ['w1'] } });
//   const provider = new HttpSyncProvider({ url: fake.url, token: 'token-a' });
//   fake.inject({ path: '/v1/push', status: 429, headers: { 'retry-after': '2' } });
//   fake.dropStreams();
//   await fake.close();
import { createServer } from 'node:http';
import { synclane, loadWasm } from './synclane.mjs';

/** The HTTP status of each canonical code, as PROTOCOL.md's error table gives it. */
export const STATUS_BY_CODE = {
  invalid_change: 400,
  invalid_payload: 400,
  invalid_argument: 400,
  unknown_table: 400,
  clock_skew: 400,
  unauthorized: 401,
  forbidden: 403,
  cursor_expired: 410,
  payload_too_large: 413,
  rate_limited: 429,
};

/**
 * Starts the fake on 127.0.0.1 and a free port.
 *
 * Options:
 * - `tokens`: `{ [token]: '*' | string[] }`, which workspaces each token may use (default
 *   `{ 'test-token': '*' }`); `fake.tokens` is the live Map, change it to revoke or rotate.
 * - `memory`: the MemorySyncServer to serve (default: a new one with `serverOptions`).
 * - `serverOptions`: options of that MemorySyncServer.
 * - `keepAliveMs`: how often a `: keep-alive` comment goes down each stream (default 15000).
 * - `maxBodyBytes`: bodies over this are answered 413 payload_too_large (default 1 MiB).
 * - `lineEnding`: of the stream's lines, `'\n'` (default) or `'\r\n'`.
 */
export async function startFakeSyncServer(options = {}) {
  await loadWasm();
  const memory = options.memory ?? new synclane.MemorySyncServer(options.serverOptions);
  const tokens = new Map(
    Object.entries(options.tokens ?? { 'test-token': '*' }).map(([token, spaces]) => [token, spaces === '*' ? '*' : new Set(spaces)]),
  );
  const keepAliveMs = options.keepAliveMs ?? 15_000;
  const maxBodyBytes = options.maxBodyBytes ?? 1 << 20;
  const eol = options.lineEnding ?? '\n';
  /** Injected answers, consumed in order by the first request they match. */
  const rules = [];
  /** Every request: `{ method, path, token, accept, contentType, workspaceId? }`. */
  const requests = [];
  /** Open streams: `{ workspaceId, token, res, timer }`. */
  const streams = new Set();

  const send = (res, status, body, headers = {}) => {
    if (res.destroyed || res.headersSent) return;
    const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      ...(body !== undefined && typeof body !== 'string' && { 'content-type': 'application/json' }),
      ...headers,
    });
    res.end(text);
  };
  const fail = (res, code, message, extra = {}) => {
    const { retryAfterMs, headers } = extra;
    const body = { error: { code, message, ...(retryAfterMs !== undefined && { retryAfterMs }) } };
    send(res, STATUS_BY_CODE[code] ?? 500, body, headers);
  };
  const event = (name, data) => `event: ${name}${eol}data: ${JSON.stringify(data)}${eol}${eol}`;

  /** Sends an event to every stream of the workspace. */
  const broadcast = (workspaceId, name, data) => {
    for (const stream of streams) {
      if (stream.workspaceId === workspaceId && !stream.res.destroyed) stream.res.write(event(name, data));
    }
  };

  const readBody = (req) =>
    new Promise((resolve, reject) => {
      const chunks = [];
      let size = 0;
      // An oversized body is still read to its end, so that the client gets the 413 rather
      // than a connection reset in the middle of its upload.
      req.on('data', (chunk) => {
        size += chunk.length;
        if (size <= maxBodyBytes) chunks.push(chunk);
      });
      req.on('end', () => {
        if (size > maxBodyBytes) reject(Object.assign(new Error('too large'), { code: 'payload_too_large' }));
        else resolve(Buffer.concat(chunks).toString('utf8'));
      });
      req.on('error', reject);
      req.on('close', () => {
        if (!req.complete) reject(new Error('the client went away'));
      });
    });

  const authorize = (req, res, workspaceId) => {
    const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const spaces = match ? tokens.get(match[1]) : undefined;
    if (!spaces) {
      fail(res, 'unauthorized', match ? 'unknown token' : 'missing bearer token');
      return false;
    }
    if (spaces !== '*' && !spaces.has(workspaceId)) {
      fail(res, 'forbidden', 'this token may not use this workspace');
      return false;
    }
    return true;
  };

  const openStream = (req, res, workspaceId, token) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(event('ready', { version: memory.stats(workspaceId).version }));
    const stream = { workspaceId, token, res, timer: undefined };
    stream.timer = setInterval(() => res.write(`: keep-alive${eol}${eol}`), keepAliveMs);
    stream.timer.unref();
    streams.add(stream);
    res.on('close', () => {
      clearInterval(stream.timer);
      streams.delete(stream);
    });
  };

  const handle = async (req, res) => {
    const url = new URL(req.url, 'http://fake');
    const path = url.pathname;
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const record = { method: req.method, path, token, accept: req.headers.accept, contentType: req.headers['content-type'] };
    requests.push(record);
    if (req.method === 'OPTIONS') {
      send(res, 204, undefined, {
        'access-control-allow-methods': 'GET, POST, OPTIONS',
        'access-control-allow-headers': 'authorization, content-type, accept',
        'access-control-max-age': '600',
      });
      return;
    }
    const index = rules.findIndex((r) => r.path === undefined || (r.path instanceof RegExp ? r.path.test(path) : r.path === path));
    if (index !== -1) {
      const rule = rules[index];
      rule.times = (rule.times ?? 1) - 1;
      if (rule.times <= 0) rules.splice(index, 1);
      if (rule.delayMs) await new Promise((resolve) => setTimeout(resolve, rule.delayMs));
      if (res.destroyed) return undefined; // the client gave up meanwhile
      if (rule.status === undefined) {
        // Only a delay: then the normal answer.
      } else {
        if (req.method === 'POST') await readBody(req).catch(() => undefined);
        send(res, rule.status, rule.body, rule.headers);
        return;
      }
    }
    if (req.method === 'GET' && path === '/health') {
      send(res, 200, { status: 'ok', database: 'memory', version: '0.1.0' });
      return;
    }
    if (req.method === 'GET' && path === '/v1/stream') {
      const workspaceId = url.searchParams.get('workspaceId');
      record.workspaceId = workspaceId ?? undefined;
      if (!workspaceId) return fail(res, 'invalid_argument', 'workspaceId is required');
      if (!authorize(req, res, workspaceId)) return undefined;
      return openStream(req, res, workspaceId, token);
    }
    const call = { '/v1/push': 'push', '/v1/pull': 'pull', '/v1/cursor': 'cursor' }[path];
    if (!call) return send(res, 404, { error: { code: 'invalid_argument', message: `no endpoint ${req.method} ${path}` } });
    if (req.method !== 'POST') return send(res, 405, { error: { code: 'invalid_argument', message: 'use POST' } });
    let body;
    try {
      body = JSON.parse(await readBody(req));
    } catch (error) {
      if (error.code === 'payload_too_large') return fail(res, 'payload_too_large', `the body is over ${maxBodyBytes} bytes`);
      return fail(res, 'invalid_argument', 'the body is not JSON');
    }
    const workspaceId = body?.scope?.workspaceId;
    record.workspaceId = workspaceId;
    // Authentication comes before validation: an unknown token learns nothing about the input.
    if (!authorize(req, res, typeof workspaceId === 'string' ? workspaceId : '')) return undefined;
    if (typeof workspaceId !== 'string') return fail(res, 'invalid_argument', 'scope.workspaceId is required');
    try {
      if (call === 'push') {
        const result = memory.push(body);
        send(res, 200, result);
        if (result.results.some((r) => r.status === 'applied')) broadcast(workspaceId, 'change', { version: result.serverVersion });
      } else if (call === 'pull') {
        send(res, 200, memory.pull(body));
      } else {
        memory.updateCursor(workspaceId, body.deviceId, body.version);
        send(res, 204);
      }
    } catch (error) {
      const code = typeof error?.code === 'string' && error.code in STATUS_BY_CODE ? error.code : 'server_error';
      fail(res, code, error?.message ?? String(error));
    }
    return undefined;
  };

  const server = createServer((req, res) => {
    res.setHeader('access-control-allow-origin', '*');
    res.setHeader('access-control-expose-headers', 'retry-after');
    handle(req, res).catch((error) => {
      if (!res.headersSent) send(res, 500, { error: { code: 'server_error', message: String(error?.message ?? error) } });
      else res.destroy();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    /** The MemorySyncServer behind the fake: call it directly to set up state (GC, stats...). */
    memory,
    /** token -> '*' | Set of workspace ids; change it to rotate or revoke tokens. */
    tokens,
    /** Every request received, in order. */
    requests,
    /**
     * Answers the next request(s) matching `path` (a string, a RegExp, or undefined for any)
     * with `status`, `body` (an object sent as JSON, or a raw string) and `headers`, after
     * `delayMs`; `times` requests (default 1). Without `status` only the delay applies.
     */
    inject(rule) {
      rules.push({ ...rule });
    },
    /** The next `times` requests to `path` get 429 with `Retry-After` (seconds) and, with `withBody`, the protocol's body. */
    rateLimit({ path, retryAfterSeconds = 1, withBody = true, times = 1 } = {}) {
      rules.push({
        path,
        times,
        status: 429,
        headers: { 'retry-after': String(retryAfterSeconds) },
        body: withBody
          ? { error: { code: 'rate_limited', message: 'slow down', retryAfterMs: retryAfterSeconds * 1000 } }
          : 'Too Many Requests',
      });
    },
    /** How many streams are open (for one workspace, or all). */
    streamCount(workspaceId) {
      return [...streams].filter((s) => workspaceId === undefined || s.workspaceId === workspaceId).length;
    },
    /** Sends a raw string down every open stream of the workspace (or all). */
    writeToStreams(text, workspaceId) {
      for (const s of streams) if (workspaceId === undefined || s.workspaceId === workspaceId) s.res.write(text);
    },
    /** Sends an event to the streams of a workspace. */
    broadcast,
    /** Cuts the open streams (of one workspace, or all) abruptly, as a crashed server or a lost network would. */
    dropStreams(workspaceId) {
      for (const s of [...streams]) {
        if (workspaceId === undefined || s.workspaceId === workspaceId) s.res.socket?.destroy();
      }
    },
    /** Stops the server and cuts every connection. */
    async close() {
      for (const s of streams) clearInterval(s.timer);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
