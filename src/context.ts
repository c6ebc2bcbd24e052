import type { Clock } from './clock.js';
import type { EventBusConfig } from './config.js';
import type { EventStore } from './contracts/store.js';
import type { Transport } from './contracts/transport.js';
import type { EventRegistry } from './events/registry.js';
import type { HookEmitter } from './hooks.js';
import type { Logger } from './logger.js';
import type { Tracing } from './tracing.js';

/** What the parts of one event system share. @internal */
export interface SystemContext {
  readonly config: EventBusConfig;
  readonly transport: Transport;
  readonly store: EventStore;
  readonly registry: EventRegistry;
  readonly hooks: HookEmitter;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Validate payloads against their schemas (publish and consume). */
  readonly validate: boolean;
  /** Default `source` stamped on published events. */
  readonly source: string | undefined;
  /** OpenTelemetry hooks; `undefined` when `@opentelemetry/api` is not installed or `tracing: false`. */
  readonly tracing?: Tracing | undefined;
}
