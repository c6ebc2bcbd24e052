/**
 * Partitioned streams (`partitionTransport`, what `eventStreamPartitions` applies) over the
 * memory transport: the whole transport conformance suite with every stream split into four
 * partitions, then the partition cases (`describePartitions`).
 */
import { memoryTransport, partitionTransport } from '@procur/event-bus';
import { describePartitions, describeTransport } from '@procur/event-bus/testing';

describeTransport('memory, 4 partitions per stream', () => ({ transport: partitionTransport(memoryTransport(), { partitions: 4 }) }));

describePartitions('memory', () => {
  const inner = memoryTransport();
  return { inner, transport: partitionTransport(inner, { partitions: 4 }), partitions: 4 };
});
