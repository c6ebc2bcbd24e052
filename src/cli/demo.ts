/**
 * `procur-bus demo`: the procurement flow of examples/procurement, bundled into the CLI so that it
 * runs from an installed package. The flow has one home, `examples/procurement/flow.ts`: the
 * starter template and `procur-bus demo` run the same code and cannot drift apart.
 */
export { runDemo, type DemoOptions, type DemoResult } from '../../examples/procurement/flow.js';
