// Serves the demo (www/) and the built package (dist/) on 127.0.0.1 and prints the URL.
import { fileURLToPath } from 'node:url';
import { startStaticServer } from './static-server.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const port = Number(process.env.PORT ?? 8080);
const server = await startStaticServer(`${root}www`, { port, mounts: { '/dist/': `${root}dist` } });
console.log(`synclane demo: ${server.url}/  (Ctrl+C to stop)`);
process.on('SIGINT', () => server.close().then(() => process.exit(0)));
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
