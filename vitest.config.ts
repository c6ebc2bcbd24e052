import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/**
 * Suites of several processes each (kills, competing consumers, a cluster failover, concurrent
 * migrations): they run in the chaos suite (`npm run test:chaos`, one file at a time, after
 * `npm test` in CI), which keeps `npm test` under five minutes on a 2-core machine.
 */
export const PROCESS_SUITES = [
  'test/e2e/redis-tasks-multiprocess.test.ts',
  'test/e2e/redis-flows-multiprocess.test.ts',
  'test/e2e/redis-multiprocess.test.ts',
  'test/e2e/redis-bus-multiprocess.test.ts',
  'test/e2e/redis-cluster-bus.test.ts',
  'test/e2e/postgres-transport-multiprocess.test.ts',
  'test/e2e/postgres-transport-scheduler.test.ts',
  'test/e2e/postgres-transport-ops.test.ts',
  'test/e2e/postgres-outage.test.ts',
  'test/e2e/store-migrate-concurrent.test.ts',
  'test/e2e/replay-scale.test.ts',
  'test/e2e/procurement-workers.test.ts',
  'test/e2e/sqlite-open-concurrent.test.ts',
];

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
    exclude: [...configDefaults.exclude, ...PROCESS_SUITES],
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
    // Most files wait on servers, child processes and timers rather than the CPU: four at once
    // keep a 2-core machine busy.
    maxWorkers: 4,
    reporters: ['default'],
  },
});
