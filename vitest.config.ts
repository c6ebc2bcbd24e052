import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@procur\/event-bus\/testing$/, replacement: here('./src/testing/index.ts') },
      { find: /^@procur\/event-bus\/adapter-kit$/, replacement: here('./src/adapter-kit.ts') },
      { find: /^@procur\/event-bus\/http$/, replacement: here('./src/http/index.ts') },
      { find: /^@procur\/event-bus\/redis$/, replacement: here('./adapters/redis/index.ts') },
      { find: /^@procur\/event-bus\/postgres$/, replacement: here('./adapters/postgres/index.ts') },
      { find: /^@procur\/event-bus\/sqlite$/, replacement: here('./adapters/sqlite/index.ts') },
      { find: /^@procur\/event-bus$/, replacement: here('./src/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Type tests (test/types/*.test-d.ts): `@ts-expect-error` cases and expectTypeOf, checked by tsc.
    typecheck: {
      enabled: true,
      include: ['test/types/**/*.test-d.ts'],
      tsconfig: './test/types/tsconfig.json',
    },
    // Generous: a test that spawns several processes can take minutes on a loaded 2-core machine.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Most files wait on servers, child processes and timers rather than the CPU: three at once
    // keep a 2-core machine busy (about 2.5 min instead of 5 for the suite).
    maxWorkers: 3,
    reporters: ['default'],
  },
});
