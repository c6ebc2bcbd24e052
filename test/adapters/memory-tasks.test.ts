import { memoryTransport } from '../../src/index.js';
import { describeTaskQueue } from '../../src/testing/index.js';

describeTaskQueue('memory', () => ({ transport: memoryTransport() }));
