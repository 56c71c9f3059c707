import type { NodeRuntime } from './runtime.js';

/** A real node's runtime: Node's timers, monotonic clock, Math.random and setImmediate. */
export const realRuntime: NodeRuntime = {
  clock: {
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
  },
  nowMs: () => performance.now(),
  randomInt: (bound) => Math.floor(Math.random() * bound),
  requestIdBase: () => Math.floor(Math.random() * 2 ** 52),
  soon: (fn) => void setImmediate(fn),
};
