import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '@procur/event-bus';
import type { EventSystem } from '@procur/event-bus';

/** Options naming the application module. */
export interface AppOptions {
  /** Path of a module exporting the event system (default export, `bus`, `system`), or a factory of it. */
  app?: string;
}

function isSystem(v: unknown): v is EventSystem {
  return typeof v === 'object' && v !== null && 'publisher' in v && typeof (v as EventSystem).close === 'function';
}

/**
 * Loads the application's event system from `--app <module>`. The module exports it (as
 * `default`, `bus` or `system`) or a function returning it (`createSystem`, or the default export).
 *
 * @throws {@link ConfigError} when no module is given or it exports no event system.
 */
export async function loadApp(options: AppOptions): Promise<EventSystem> {
  const path = options.app ?? process.env.PROCUR_BUS_APP;
  if (!path) {
    throw new ConfigError('--app', 'pass --app <module> (or set PROCUR_BUS_APP): a module exporting your event system or a factory of it');
  }
  const mod = (await import(pathToFileURL(resolve(process.cwd(), path)).href)) as Record<string, unknown>;
  for (const key of ['default', 'bus', 'system', 'createSystem']) {
    let v = mod[key];
    if (typeof v === 'function') v = await (v as () => unknown)();
    if (isSystem(v)) return v;
  }
  throw new ConfigError('--app', `module '${path}' exports no event system (export it as default, 'bus' or 'system', or a factory 'createSystem')`);
}
