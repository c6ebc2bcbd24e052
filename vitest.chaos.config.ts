/**
 * The chaos suite (`npm run test:chaos`): processes, Redis and PostgreSQL killed under load.
 * Its files are `test/chaos/**\/*.chaos.ts`, so the main suite (`test/**\/*.test.ts`) never runs
 * them. One file at a time: each starts its own servers and child processes, and they would
 * otherwise compete for the machine's cores and blur the fault timings.
 */
import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/chaos/**/*.chaos.ts'],
    // The type tests belong to the main suite.
    typecheck: { enabled: false },
    testTimeout: 240_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});
