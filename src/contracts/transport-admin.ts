/**
 * The optional admin role of the transport: the state of a stream for the monitor, and purging
 * its backlog. Checked by `describeAdmin` (from `./testing`).
 *
 * @module
 */

import type { MessageStreams } from './transport-streams.js';
import type { SignalOptions, TransportPart } from './transport.js';

/** The state of one group on a stream, for the monitor. */
export interface GroupInfo {
  /** The group name. */
  name: string;
  /** Deliveries handed out and not yet acked (Redis: XPENDING count). */
  pending: number;
  /** Messages in the stream the group has not read yet (its backlog). */
  lag: number;
  /** The backlog per priority rank, index 0 (low) to 3 (critical); sums to `lag`. */
  lagByPriority: number[];
  /** Messages waiting for a delayed redelivery to this group. */
  retrying: number;
  /** Consumers known in the group. */
  consumers: number;
  /** Age (ms) of the oldest pending delivery, 0 when none. */
  oldestPendingMs: number;
}

/** The state of a stream, for the monitor. */
export interface StreamInfo {
  /** The stream name. */
  stream: string;
  /** Messages held in the stream (all priorities). */
  length: number;
  /** Messages held per priority rank, index 0 (low) to 3 (critical). */
  lengthByPriority: number[];
  /** Messages published with a delay that is not over yet. */
  delayed: number;
  /** Every group on the stream. */
  groups: GroupInfo[];
  /**
   * A partitioned stream (`eventStreamPartitions` > 1): the state of each partition, index
   * order; the fields above are their sum (a group's `consumers` and `oldestPendingMs` the
   * largest). Absent for a stream that is not partitioned.
   */
  partitions?: StreamInfo[];
}

/**
 * Inspecting and purging streams (monitor, dashboard, CLI, `bus.tasks.purge`). Optional: a system
 * without it runs, and its monitor, dashboard and queue views reject with `ConfigError`. It reads
 * the state of the {@link MessageStreams} of the same adapter. Declared by `features.admin`
 * (default `true`).
 */
export interface TransportAdmin extends TransportPart {
  /** State of a stream and its groups, for the monitor. A stream that does not exist reports zeros. */
  info(stream: string, options?: SignalOptions): Promise<StreamInfo>;

  /**
   * Deletes every message of a stream that no group has been handed yet, and every delayed one.
   * Pending deliveries stay (they are being processed). Returns how many were removed.
   */
  purge(stream: string, options?: SignalOptions): Promise<number>;
}
