import { build, type Plugin } from 'esbuild';
import { defineConfig } from 'tsup';
import { CLIENT_BUILD_OPTIONS, CLIENT_ENTRY } from './src/dashboard/client-script.js';

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

/**
 * One entry per sub-path of the package's `exports` map. Adapters import the core by its
 * package name, and that name is external, so every entry shares one copy of the core at run time.
 */
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    testing: 'src/testing/index.ts',
    http: 'src/http/index.ts',
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
  esbuildPlugins: [dashboardClient],
});
