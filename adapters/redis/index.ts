/**
 * `@procur/event-bus/redis`: the Redis Streams transport. Needs the optional peer `ioredis`
 * (`npm install ioredis`) and Redis >= 7.0. See `docs/redis.md`.
 *
 * @example
 * ```ts
 * import { redisTransport } from '@procur/event-bus/redis';
 * const transport = redisTransport({ url: process.env.REDIS_URL });
 * ```
 *
 * @packageDocumentation
 */
export {
  redisTransport,
  DEFAULT_OPERATION_TIMEOUT_MS,
  DEFAULT_PUBLISH_TIMEOUT_MS,
  DEFAULT_TRIM_INTERVAL_MS,
  DEFAULT_UNGROUPED_MAX_LEN,
  type RedisTransport,
  type RedisTransportOptions,
} from './redis-transport.js';
export { DEFAULT_KEY_PREFIX, KeyLayout, encodeDeliveryId, decodeDeliveryId, type SourceIndex } from './keys.js';
export { keySlot } from './slots.js';
