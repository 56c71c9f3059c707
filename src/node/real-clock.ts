import type { Clock } from '../raft/host/raft-node.js';

/** The core's clock in a real node: Node's timers. */
export const realClock: Clock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
};
