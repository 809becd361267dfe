// Starts the reference server (the release binary) on 127.0.0.1, by default on a free port, and stops or
// kills it. Tokens: `tokens` as TOKEN=WS flags; extra settings go in a temporary config file.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
// Cargo's output folder: CARGO_TARGET_DIR when set, as cargo itself does.
export const SERVER_BINARY = join(process.env.CARGO_TARGET_DIR || join(root, 'target'), 'release', 'synclane-server');

/** A temporary folder for SQLite files and configs. */
export function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'synclane-server-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Starts a server on `db` (a SQLite path or a postgres URL). Resolves to
 * `{ url, stop(), kill(), logs() }` once it listens. `listen` reuses an address (restarts).
 */
export async function startSyncServer({ db, tokens = ['test-token=*'], settings = {}, listen = '127.0.0.1:0', showLogs = false }) {
  if (!existsSync(SERVER_BINARY)) throw new Error('run scripts/build.sh first (it builds the server)');
  const configDir = mkdtempSync(join(tmpdir(), 'synclane-config-'));
  const config = join(configDir, 'config.json');
  writeFileSync(config, JSON.stringify({ gcIntervalMs: 0, ...settings }));
  const args = ['--db', db, '--listen', listen, '--config', config, '--log-format', showLogs ? 'text' : 'json'];
  for (const token of tokens) args.push('--token', token);
  const child = spawn(SERVER_BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  child.stderr.on('data', (d) => {
    logs += d;
    if (showLogs) process.stderr.write(d);
  });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${logs}`)), 30_000);
    child.stdout.on('data', (d) => {
      out += d;
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with ${code}:\n${logs}`));
    });
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const end = async (signal) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const result = await exited;
    rmSync(configDir, { recursive: true, force: true });
    return result;
  };
  return {
    url,
    address: url.replace('http://', ''),
    /** Graceful: SIGTERM, then waits for the exit. */
    stop: () => end('SIGTERM'),
    /** Abrupt: SIGKILL. */
    kill: () => end('SIGKILL'),
    logs: () => logs,
  };
}

/**
 * Every record's latest version on a server (tombstones too), read by paging `/v1/pull` from
 * cursor 0. Resolves to `{ changes, head }`: `changes` maps each record's key to its change (one
 * table is assumed), `head` is the last cursor. A non-200 answer throws with its body.
 */
export async function pullLatest(url, token, workspaceId) {
  const changes = new Map();
  let cursor = 0;
  for (;;) {
    const response = await fetch(`${url}/v1/pull`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scope: { workspaceId }, cursor, limit: 1000 }),
    });
    if (response.status !== 200) throw new Error(`pull answered ${response.status}: ${await response.text()}`);
    const page = await response.json();
    for (const change of page.changes) changes.set(change.pk, change);
    cursor = page.nextCursor;
    if (!page.hasMore) return { changes, head: cursor };
  }
}
