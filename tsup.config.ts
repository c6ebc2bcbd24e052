import { fileURLToPath } from 'node:url';
import { defineConfig, type Options } from 'tsup';
import type { Plugin } from 'esbuild';

const ERRORS = fileURLToPath(new URL('./src/errors.ts', import.meta.url));

/**
 * The entries other than the root take the core's errors from the root entry at run time, so an
 * error thrown by code they bundle (the adapter kit's `Lifecycle`, `storeValidation`) is the
 * root's class: `instanceof EventBusError` holds across entries (one copy of the core).
 */
const errorsFromRoot: Plugin = {
  name: 'errors-from-root',
  setup(build) {
    build.onResolve({ filter: /\/errors\.js$/ }, async (args) => {
      if (args.pluginData === 'errors-from-root') return undefined;
      const resolved = await build.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, importer: args.importer, pluginData: 'errors-from-root' });
      return resolved.path === ERRORS ? { path: '@procur/event-bus', external: true } : undefined;
    });
  },
};

const common: Options = {
  format: ['esm', 'cjs'],
  dts: true,
  // dist is emptied by the build script: two configs build into it at once.
  clean: false,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
  shims: false,
  external: ['@procur/event-bus', 'ioredis', 'pg', 'better-sqlite3', 'vitest'],
};

/**
 * One entry per sub-path of the package's `exports` map. Adapters import the core by its
 * package name (`@procur/event-bus`, `@procur/event-bus/adapter-kit`), and those names are
 * external, so every entry shares one copy of the core at run time.
 */
export default defineConfig([
  {
    ...common,
    entry: {
      index: 'src/index.ts',
      cli: 'src/cli/index.ts',
    },
  },
  {
    ...common,
    entry: {
      testing: 'src/testing/index.ts',
      http: 'src/http/index.ts',
      'adapter-kit': 'src/adapter-kit.ts',
      redis: 'adapters/redis/index.ts',
      postgres: 'adapters/postgres/index.ts',
      sqlite: 'adapters/sqlite/index.ts',
    },
    esbuildPlugins: [errorsFromRoot],
  },
]);
