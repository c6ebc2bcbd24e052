import { defineConfig } from 'tsup';

/**
 * One entry per sub-path of the package's `exports` map. Adapters import the core by its
 * package name, and that name is external, so every entry shares one copy of the core at run time.
 */
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    testing: 'src/testing/index.ts',
    http: 'src/http/index.ts',
    'adapter-kit': 'src/adapter-kit.ts',
    cli: 'src/cli/index.ts',
    redis: 'adapters/redis/index.ts',
    postgres: 'adapters/postgres/index.ts',
    sqlite: 'adapters/sqlite/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
  shims: false,
  external: ['@procur/event-bus', 'ioredis', 'pg', 'better-sqlite3', 'vitest'],
});
