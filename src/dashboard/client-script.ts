/**
 * The page's script: the typed modules under `client/` bundled into one browser script.
 *
 * The build (tsup.config.ts) replaces this module with the bundle as a string constant, so the
 * package ships no bundler and builds nothing at run time. Run from source (vitest, tsx), the
 * script is bundled here on first use with esbuild, a development dependency.
 *
 * @internal
 * @module
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The entry of the page's script. @internal */
export const CLIENT_ENTRY = 'client/main.ts';

/** esbuild options of the page's script: one classic script for current browsers. @internal */
export const CLIENT_BUILD_OPTIONS = { bundle: true, format: 'iife', target: 'es2020', platform: 'browser', minify: true, legalComments: 'none' } as const;

let script: string | undefined;

/** The page's script as JavaScript source. @internal */
export function clientScript(): string {
  if (script === undefined) {
    const require = createRequire(import.meta.url);
    const esbuild = require('esbuild') as typeof import('esbuild');
    const out = esbuild.buildSync({ ...CLIENT_BUILD_OPTIONS, entryPoints: [fileURLToPath(new URL(CLIENT_ENTRY, import.meta.url))], write: false, tsconfig: fileURLToPath(new URL('client/tsconfig.json', import.meta.url)) });
    script = out.outputFiles![0]!.text;
  }
  return script;
}
