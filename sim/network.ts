import type { Message, NodeId } from '../src/raft/types.js';
import type { SimClock } from './clock.js';
import type { Prng } from './prng.js';

/** How the simulated network misbehaves; ratios are per mille. */
export interface NetworkFaults {
  readonly lossPerMille: number;
  readonly duplicatePerMille: number;
  readonly delayMinMs: number;
  /** Delays vary per message up to this, which is what reorders messages. */
  readonly delayMaxMs: number;
}

export const reliableNetwork: NetworkFaults = { lossPerMille: 0, duplicatePerMille: 0, delayMinMs: 1, delayMaxMs: 5 };

export interface NetworkCounters {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
}

/**
 * Point-to-point links between simulated nodes. A link can be cut in one direction
 * (asymmetric partitions); a cut is checked both when a message is sent and when it
 * would arrive, so a partition also swallows what was in flight.
 */
export class SimNetwork {
  faults: NetworkFaults = reliableNetwork;
  readonly counters: NetworkCounters = { sent: 0, delivered: 0, dropped: 0, duplicated: 0 };
  private readonly cut = new Set<string>();

  constructor(
    private readonly clock: SimClock,
    private readonly rng: Prng,
    private readonly deliver: (m: Message) => void,
  ) {}

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.size > 0 && this.cut.has(`${from}>${to}`);
  }

  healLink(from: NodeId, to: NodeId): void {
    this.cut.delete(`${from}>${to}`);
  }

  healAll(): void {
    this.cut.clear();
  }

  send(m: Message): void {
    this.counters.sent++;
    const f = this.faults;
    if (this.isCut(m.from, m.to) || this.rng.chance(f.lossPerMille, 1000)) {
      this.counters.dropped++;
      return;
    }
    let copies = 1;
    if (this.rng.chance(f.duplicatePerMille, 1000)) {
      copies = 2;
      this.counters.duplicated++;
    }
    for (let k = 0; k < copies; k++) {
      this.clock.setTimeout(() => {
        if (this.isCut(m.from, m.to)) {
          this.counters.dropped++;
          return;
        }
        this.counters.delivered++;
        this.deliver(m);
      }, this.rng.range(f.delayMinMs, f.delayMaxMs));
    }
  }
}
