// The demo: the reference sync server on its embedded database (data/demo.db, SQLite) and the
// demo app (www/) with the built package (dist/), on 127.0.0.1. `startDemo` is what the demo's
// tests start too. Run directly, it prints the URL and runs until Ctrl+C.
import { mkdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startStaticServer } from './static-server.mjs';
import { startSyncServer } from './sync-server.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * The demo's two devices each have a token for the workspace `demo`, and a read-only one (what
 * the "may write" switch swaps in: the server then refuses their pushes).
 */
export const DEMO_TOKENS = ['demo-laptop=demo', 'demo-phone=demo', 'demo-laptop-viewer=demo:read', 'demo-phone-viewer=demo:read'];
export const DEMO_ADMIN_TOKEN = 'demo-admin';

export async function startDemo({ port = 0, syncListen = '127.0.0.1:0', db = `${root}data/demo.db`, showLogs = false } = {}) {
  mkdirSync(`${root}data`, { recursive: true });
  const sync = await startSyncServer({
    db,
    listen: syncListen,
    tokens: DEMO_TOKENS,
    settings: { adminToken: DEMO_ADMIN_TOKEN, gcIntervalMs: 60_000 },
    showLogs,
  });
  const web = await startStaticServer(`${root}www`, {
    port,
    mounts: { '/dist/': `${root}dist`, '/devtools-extension/': `${root}dist/devtools-extension` },
  });
  return {
    url: `${web.url}/?server=${encodeURIComponent(sync.url)}`,
    syncUrl: sync.url,
    async close() {
      await web.close();
      await sync.stop();
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const demo = await startDemo({
    port: Number(process.env.PORT ?? 8080),
    syncListen: `127.0.0.1:${process.env.SYNC_PORT ?? 8787}`,
    showLogs: process.env.SYNCLANE_DEMO_LOGS === '1',
  });
  console.log(`synclane sync server: ${demo.syncUrl} (SQLite: data/demo.db)`);
  console.log(`synclane demo:        ${demo.url}`);
  console.log('Ctrl+C to stop');
  const stop = () => demo.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
