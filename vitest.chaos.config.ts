/**
 * The chaos suite (`npm run test:chaos`): processes, Redis and PostgreSQL killed under load.
 * Its files are `test/chaos/**\/*.chaos.ts` and the multi-process suites (`PROCESS_SUITES` in
 * vitest.config.ts), which the main suite leaves out. One file at a time: each starts its own servers and child processes, and they would
 * otherwise compete for the machine's cores and blur the fault timings.
 */
import { defineConfig } from 'vitest/config';
import base, { PROCESS_SUITES } from './vitest.config.js';

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/chaos/**/*.chaos.ts', ...PROCESS_SUITES],
    exclude: [],
    // The type tests belong to the main suite.
    typecheck: { enabled: false },
    testTimeout: 240_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});
