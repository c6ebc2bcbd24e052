import { build, type Plugin } from 'esbuild';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Options } from 'tsup';
import { CLIENT_BUILD_OPTIONS, CLIENT_ENTRY } from './src/dashboard/client-script.js';

type EsbuildPlugin = NonNullable<Options['esbuildPlugins']>[number];

/**
 * Inlines the Redis transport's `.lua` files at build: `adapters/redis/lua/index.ts` reads them
 * from disk when run from source; in the bundles it becomes a table of their texts (ESM and CJS
 * alike), so the package reads no file at run time.
 */
const inlineLua: EsbuildPlugin = {
  name: 'inline-lua',
  setup(build) {
    build.onLoad({ filter: /adapters[\\/]redis[\\/]lua[\\/]index\.ts$/ }, (args) => {
      const dir = dirname(args.path);
      const sources = Object.fromEntries(
        readdirSync(dir)
          .filter((f) => f.endsWith('.lua'))
          .sort()
          .map((f) => [f, readFileSync(join(dir, f), 'utf8')]),
      );
      return {
        loader: 'ts',
        watchFiles: Object.keys(sources).map((f) => join(dir, f)),
        contents: `const SOURCES: Record<string, string> = ${JSON.stringify(sources)};
export function luaSource(name: string): string {
  const source = SOURCES[name];
  if (source === undefined) throw new Error(\`[event-bus:redis] no Lua script \${name} in the build\`);
  return source;
}
`,
      };
    });
  },
};

/**
 * Bundles the dashboard page's typed client modules (src/dashboard/client) at build time and
 * puts the script, as a string, in place of src/dashboard/client-script.ts: the package serves
 * it without a bundler at run time.
 */
const dashboardClient: Plugin = {
  name: 'dashboard-client',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]dashboard[\\/]client-script\.ts$/ }, async (args) => {
      const dir = args.path.replace(/client-script\.ts$/, '');
      const out = await build({ ...CLIENT_BUILD_OPTIONS, entryPoints: [dir + CLIENT_ENTRY], write: false, tsconfig: `${dir}client/tsconfig.json` });
      const js = out.outputFiles![0]!.text;
      return { loader: 'ts', contents: `export const CLIENT_ENTRY = ${JSON.stringify(CLIENT_ENTRY)};\nexport function clientScript(): string { return ${JSON.stringify(js)}; }\n` };
    });
  },
};

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

/** The library entries after the root: one per sub-path of the package's `exports` map. */
const subpathEntries = {
  testing: 'src/testing/index.ts',
  http: 'src/http/index.ts',
  'adapter-kit': 'src/adapter-kit.ts',
  redis: 'adapters/redis/index.ts',
  postgres: 'adapters/postgres/index.ts',
  sqlite: 'adapters/sqlite/index.ts',
};

const common: Options = {
  format: ['esm', 'cjs'],
  // dist is emptied by the build script: two configs build into it at once.
  clean: false,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
  shims: false,
  // Optional peers stay imports (the OpenTelemetry API only ever through a guarded dynamic import).
  external: ['@procur/event-bus', 'ioredis', 'pg', 'better-sqlite3', 'vitest', '@opentelemetry/api'],
};

/**
 * Adapters import the core by its package name (`@procur/event-bus`,
 * `@procur/event-bus/adapter-kit`), and those names are external, so every entry shares one copy
 * of the core at run time.
 */
export default defineConfig([
  {
    ...common,
    entry: { index: 'src/index.ts', cli: 'src/cli/index.ts' },
    // Declarations: one TypeScript program and one rollup for every library entry together (the
    // CLI is a program, not an import path, and needs none).
    dts: { entry: { index: 'src/index.ts', ...subpathEntries } },
    esbuildPlugins: [inlineLua, dashboardClient],
  },
  {
    ...common,
    entry: subpathEntries,
    dts: false,
    esbuildPlugins: [errorsFromRoot, inlineLua, dashboardClient],
  },
]);
