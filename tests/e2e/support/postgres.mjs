// A private PostgreSQL cluster for a test run: initdb into a temporary folder, a server on
// 127.0.0.1 and a free port, trust authentication, removed on stop. As root, the cluster runs
// as the `postgres` user (PostgreSQL refuses root).
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, chownSync, existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function binDir() {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  if (versions.length === 0) throw new Error('PostgreSQL is not installed (scripts/setup.sh installs it)');
  return join(root, versions.sort((a, b) => Number(b) - Number(a))[0], 'bin');
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function asOwner(command, args) {
  const root = process.getuid?.() === 0;
  return root ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

async function waitForPort(port, timeoutMs) {
  const started = Date.now();
  for (;;) {
    const open = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() - started > timeoutMs) throw new Error(`PostgreSQL did not open port ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts a cluster; resolves to `{ url, stop }`. */
export async function startPostgres() {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'synclane-pg-'));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const [initCmd, initArgs] = asOwner(join(bin, 'initdb'), ['-D', data, '-U', 'synclane', '--auth=trust', '-E', 'UTF8', '--no-instructions']);
  execFileSync(initCmd, initArgs, { stdio: 'ignore' });
  const port = await freePort();
  const [cmd, args] = asOwner(join(bin, 'postgres'), [
    '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200',
  ]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  await waitForPort(port, 30_000).catch((e) => {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\n${log}`);
  });
  // The port opens a moment before the server accepts logins.
  const ready = Date.now();
  while (spawnSync(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'synclane', '-d', 'postgres']).status !== 0) {
    if (Date.now() - ready > 30_000) throw new Error(`PostgreSQL did not accept connections\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `postgres://synclane@127.0.0.1:${port}/postgres`,
    async stop() {
      await new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        // pg_ctl signals the postmaster itself (runuser, our child as root, would not pass
        // SIGINT on); fast mode ends open sessions instead of waiting for them.
        const [stopCmd, stopArgs] = asOwner(join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'fast', '-w']);
        const stopped = spawnSync(stopCmd, stopArgs, { stdio: 'ignore' });
        if (stopped.status !== 0) child.kill('SIGKILL');
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
