import { defineConfig } from 'tsup';

/**
 * One entry per sub-path of the package's `exports` map. Adapters import the core by its
 * package name, and that name is external, so every entry shares one copy of the core at run time.
 */
const libraryEntries = {
  index: 'src/index.ts',
  testing: 'src/testing/index.ts',
  http: 'src/http/index.ts',
  redis: 'adapters/redis/index.ts',
  postgres: 'adapters/postgres/index.ts',
  sqlite: 'adapters/sqlite/index.ts',
};

export default defineConfig({
  entry: { ...libraryEntries, cli: 'src/cli/index.ts' },
  format: ['esm', 'cjs'],
  // Declarations: one TypeScript program and one rollup for all library entries together (tsup
  // builds the entries of `dts.entry` in a single pass); the CLI is a program, not an import path,
  // and needs none.
  dts: { entry: libraryEntries },
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
  shims: false,
  external: ['@procur/event-bus', 'ioredis', 'pg', 'better-sqlite3', 'vitest'],
});
