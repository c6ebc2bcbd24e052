/**
 * Composes one {@link Transport} from role adapters, so the core's parts see one object whatever
 * adapters provide the roles. Used by `createEventSystem`.
 *
 * @module
 */

import { ClosedError, ConfigError } from '../errors.js';
import { runAll } from '../lifecycle.js';
import { hasRole } from './transport-defaults.js';
import { IN_PROCESS_VALUES, takesValues, type InProcessMark } from '../events/in-process.js';
import type { TransportAdmin } from './transport-admin.js';
import type { DeadLetters } from './transport-dead-letters.js';
import type { KeyValue } from './transport-key-value.js';
import type { Signals } from './transport-signals.js';
import type { MessageStreams } from './transport-streams.js';
import type { Transport, TransportPart, TransportRole } from './transport.js';

/** The roles to compose; `admin` is optional. */
export interface TransportRoles {
  /** Message streams and their dead letters (one adapter: the move to the DLQ is atomic). */
  streams: MessageStreams & DeadLetters;
  /** Key-value with TTL. */
  keyValue: KeyValue;
  /** Notifications. */
  signals: Signals;
  /** Inspection and purge; without it `info` and `purge` reject with `ConfigError`. */
  admin?: TransportAdmin | undefined;
}

const OPTION: Record<TransportRole, string> = {
  streams: 'streams',
  deadLetters: 'streams',
  keyValue: 'keyValue',
  signals: 'signals',
  admin: 'admin',
};

/** Throws `ConfigError` unless `part` declares every role of `roles`. */
export function assertRoles(part: TransportPart, roles: readonly TransportRole[], option: string): void {
  for (const role of roles) {
    if (!hasRole(part.features, role)) {
      throw new ConfigError(
        option,
        `the adapter '${part.name}' does not provide the ${role} role (features.${role} is false); pass an adapter that does as \`${OPTION[role]}\``,
      );
    }
  }
}

function noAdmin(closed: boolean): never {
  if (closed) throw new ClosedError('transport');
  throw new ConfigError(
    'admin',
    'no transport provides the admin role (info, purge): pass `admin` (or a `transport` with every role) to createEventSystem',
  );
}

/**
 * One {@link Transport} over role adapters. Each call goes to the adapter of its role; `close()`
 * closes every distinct adapter once (all of them, even if one fails). Without `admin`, `info`
 * and `purge` reject with `ConfigError`.
 */
export function composeTransport(roles: TransportRoles): Transport {
  const { streams, keyValue, signals, admin } = roles;
  const parts = [...new Set<TransportPart>([streams, keyValue, signals, ...(admin ? [admin] : [])])];
  const all = (flag: 'persistent' | 'distributed') => parts.every((p) => p.features[flag]);
  let closing: Promise<void> | undefined;
  const transport: Transport & InProcessMark = {
    name: parts.map((p) => p.name).filter((n, i, a) => a.indexOf(n) === i).join('+'),
    features: Object.freeze({
      persistent: all('persistent'),
      distributed: all('distributed'),
      streams: true,
      deadLetters: true,
      keyValue: true,
      signals: true,
      admin: admin !== undefined,
    }),
    // Messages go to `streams`: the in-process path is open when that adapter takes it.
    [IN_PROCESS_VALUES]: takesValues(streams),
    publish: (...a) => streams.publish(...a),
    ensureGroup: (...a) => streams.ensureGroup(...a),
    receive: (...a) => streams.receive(...a),
    ack: (...a) => streams.ack(...a),
    nack: (...a) => streams.nack(...a),
    redeliver: (...a) => streams.redeliver(...a),
    claimStale: (...a) => streams.claimStale(...a),
    touch: (...a) => streams.touch(...a),
    deadLetter: (...a) => streams.deadLetter(...a),
    listDeadLetters: (...a) => streams.listDeadLetters(...a),
    getDeadLetter: (...a) => streams.getDeadLetter(...a),
    deleteDeadLetters: (...a) => streams.deleteDeadLetters(...a),
    countDeadLetters: (...a) => streams.countDeadLetters(...a),
    purgeDeadLetters: (...a) => streams.purgeDeadLetters(...a),
    kvGet: (...a) => keyValue.kvGet(...a),
    kvSet: (...a) => keyValue.kvSet(...a),
    kvSetMany: (...a) => keyValue.kvSetMany(...a),
    kvDelete: (...a) => keyValue.kvDelete(...a),
    kvIncr: (...a) => keyValue.kvIncr(...a),
    kvScan: (...a) => keyValue.kvScan(...a),
    notify: (...a) => signals.notify(...a),
    listen: (...a) => signals.listen(...a),
    info: async (...a) => (admin ? admin.info(...a) : noAdmin(closing !== undefined)),
    purge: async (...a) => (admin ? admin.purge(...a) : noAdmin(closing !== undefined)),
    close() {
      closing ??= runAll(parts.map((p) => () => p.close()));
      return closing;
    },
  };
  return transport;
}
