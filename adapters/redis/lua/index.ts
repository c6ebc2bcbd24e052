/**
 * The Lua sources of the Redis transport, read from the `.lua` files beside this module when it
 * runs from source (tests, tsx). The package build replaces this module with the same sources
 * inlined (see `tsup.config.ts`), so the built package reads no file at run time and still works
 * when an application bundles it.
 *
 * @module
 */

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// `__dirname` exists only in CommonJS (and `import.meta` only in ESM).
const here = typeof __dirname === 'string' ? __dirname : dirname(fileURLToPath(import.meta.url));

/** The text of the script file `adapters/redis/lua/<name>`. */
export function luaSource(name: string): string {
  return readFileSync(join(here, name), 'utf8');
}
