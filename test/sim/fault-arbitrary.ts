import fc from 'fast-check';
import type { FaultEvent, FaultTarget } from '../../sim/faults.js';

/** A shrinkable fault schedule over [0, durationMs): fast-check shrinks failing runs to few, simple faults. */
export function faultScheduleArb(durationMs: number, minFaults: number, maxFaults: number): fc.Arbitrary<FaultEvent[]> {
  const atMs = fc.integer({ min: 0, max: durationMs - 1 });
  const forMs = fc.integer({ min: 50, max: 3000 });
  const node = fc.integer({ min: 0, max: 7 });
  // Faults aimed at the leader are the ones that force elections.
  const target: fc.Arbitrary<FaultTarget> = fc.oneof({ arbitrary: fc.constant('leader' as const), weight: 2 }, { arbitrary: node, weight: 1 });
  const fault: fc.Arbitrary<FaultEvent> = fc.oneof(
    { arbitrary: fc.record({ atMs, kind: fc.constant('crash' as const), target, forMs }), weight: 3 },
    { arbitrary: fc.record({ atMs, kind: fc.constant('crashAll' as const), forMs }), weight: 1 },
    // Disk faults: a torn last write, a crash the moment a write lands, a failed sync.
    { arbitrary: fc.record({ atMs, kind: fc.constantFrom('crashTorn' as const, 'crashAtSync' as const, 'failSync' as const), target, forMs }), weight: 2 },
    { arbitrary: fc.record({ atMs, kind: fc.constant('isolate' as const), target, forMs }), weight: 3 },
    { arbitrary: fc.record({ atMs, kind: fc.constant('partition' as const), group: fc.array(node, { minLength: 1, maxLength: 3 }), forMs }), weight: 2 },
    { arbitrary: fc.record({ atMs, kind: fc.constant('cutLink' as const), from: node, to: node, forMs }), weight: 1 },
    { arbitrary: fc.record({
      atMs,
      kind: fc.constant('network' as const),
      lossPerMille: fc.integer({ min: 0, max: 300 }),
      duplicatePerMille: fc.integer({ min: 0, max: 200 }),
      delayMaxMs: fc.integer({ min: 1, max: 80 }),
      forMs,
    }), weight: 2 },
  );
  return fc.array(fault, { minLength: minFaults, maxLength: maxFaults }).map((fs) => [...fs].sort((a, b) => a.atMs - b.atMs));
}
