// The Convex functions' tests: convex-test runs them against its in-memory Convex backend, in
// the edge runtime Convex functions run in (as convex-test's documentation sets it up).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'edge-runtime',
    server: { deps: { inline: ['convex-test'] } },
    include: ['*.test.ts'],
  },
});
