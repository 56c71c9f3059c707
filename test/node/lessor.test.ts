import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { leaseExpireBatchMax } from '../../src/kv/limits.js';
import { leaseExpiryRetryMs, leaseTtlSecondsMin, Lessor } from '../../src/node/lessor.js';

test('lessor: a new leader gives every lease its full TTL from its own start; a follower keeps no clock', () => {
  const l = new Lessor();
  l.granted(0, { id: 1, ttlSeconds: 5 });
  assert.equal(l.size(), 0, 'not leading: nothing kept');
  assert.equal(l.keepAlive(0, { id: 1, ttlSeconds: 5 }), false);
  l.promote(10_000, [{ id: 1, ttlSeconds: 5 }, { id: 2, ttlSeconds: 1 }]);
  assert.equal(l.remainingMs(10_000, 1), 5000);
  assert.deepEqual(l.takeExpired(10_999, () => true), []);
  assert.deepEqual(l.takeExpired(11_000, () => true), [2]);
  assert.equal(l.keepAlive(11_000, { id: 2, ttlSeconds: 1 }), false, 'its expiry is proposed: no keep-alive');
  assert.equal(l.keepAlive(11_000, { id: 1, ttlSeconds: 5 }), true);
  assert.equal(l.remainingMs(12_000, 1), 4000);
  assert.equal(l.nextDeadlineMs(), 16_000);
  l.demote();
  assert.equal(l.size(), 0);
  assert.deepEqual(l.takeExpired(99_999, () => true), []);
});

test('lessor: a failed expiry proposal makes its leases due again; an applied one forgets them; gone leases are dropped', () => {
  const l = new Lessor();
  l.promote(0, [{ id: 3, ttlSeconds: 1 }, { id: 4, ttlSeconds: 1 }, { id: 5, ttlSeconds: 1 }]);
  assert.deepEqual(l.takeExpired(1000, (id) => id !== 5), [3, 4]);
  assert.equal(l.size(), 2, 'lease 5 no longer exists: forgotten');
  l.expiryFailed(1500, [3]);
  assert.deepEqual(l.takeExpired(1500, () => true), [], 'a failed expiry is not proposed again at once (it would spin on a refusal)');
  assert.deepEqual(l.takeExpired(1500 + leaseExpiryRetryMs, () => true), [3]);
  l.expired([3, 4]);
  assert.equal(l.size(), 0);
  assert.equal(l.nextDeadlineMs(), null);
});

test('lessor: the minimum TTL outlives an election (1.5 election timeouts, in whole seconds)', () => {
  assert.equal(leaseTtlSecondsMin(1000), 2);
  assert.equal(leaseTtlSecondsMin(500), 1);
  assert.equal(leaseTtlSecondsMin(100), 1);
  assert.equal(leaseTtlSecondsMin(3000), 5);
});

type Event =
  | { readonly kind: 'promote' }
  | { readonly kind: 'demote' }
  | { readonly kind: 'grant'; readonly ttl: number }
  | { readonly kind: 'keepAlive'; readonly pick: number }
  | { readonly kind: 'revoke'; readonly pick: number }
  | { readonly kind: 'advance'; readonly ms: number }
  | { readonly kind: 'take' }
  | { readonly kind: 'settle'; readonly applied: boolean };

const eventArb: fc.Arbitrary<Event> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ kind: 'promote' } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'demote' } as const) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 5 }).map((ttl) => ({ kind: 'grant', ttl }) as const) },
  { weight: 4, arbitrary: fc.nat().map((pick) => ({ kind: 'keepAlive', pick }) as const) },
  { weight: 1, arbitrary: fc.nat().map((pick) => ({ kind: 'revoke', pick }) as const) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 2500 }).map((ms) => ({ kind: 'advance', ms }) as const) },
  { weight: 3, arbitrary: fc.constant({ kind: 'take' } as const) },
  { weight: 2, arbitrary: fc.boolean().map((applied) => ({ kind: 'settle', applied }) as const) },
);

test('lessor: agrees with a scan of every deadline over random grants, keep-alives, elections and expiries', () => {
  fc.assert(
    fc.property(fc.array(eventArb, { maxLength: 200 }), (events) => {
      const l = new Lessor();
      // The replicated leases, and the oracle's view of the leader's clock.
      const leases = new Map<number, number>();
      const deadline = new Map<number, number>();
      const expiring = new Set<number>();
      let leading = false;
      let now = 0;
      let nextId = 1;
      let proposed: number[] = [];
      const pick = (n: number): number | undefined => [...leases.keys()][n % Math.max(1, leases.size)];
      for (const e of events) {
        switch (e.kind) {
          case 'promote':
            l.promote(now, [...leases].map(([id, ttlSeconds]) => ({ id, ttlSeconds })));
            leading = true;
            deadline.clear();
            expiring.clear();
            for (const [id, ttl] of leases) deadline.set(id, now + ttl * 1000);
            proposed = [];
            break;
          case 'demote':
            l.demote();
            leading = false;
            deadline.clear();
            expiring.clear();
            proposed = [];
            break;
          case 'grant': {
            const id = nextId++;
            leases.set(id, e.ttl);
            l.granted(now, { id, ttlSeconds: e.ttl });
            if (leading) deadline.set(id, now + e.ttl * 1000);
            break;
          }
          case 'keepAlive': {
            const id = pick(e.pick);
            if (id === undefined) break;
            const ok: boolean = leading && !expiring.has(id);
            assert.equal(l.keepAlive(now, { id, ttlSeconds: leases.get(id)! }), ok);
            if (ok) deadline.set(id, now + leases.get(id)! * 1000);
            break;
          }
          case 'revoke': {
            const id = pick(e.pick);
            if (id !== undefined) leases.delete(id);
            break;
          }
          case 'advance':
            now += e.ms;
            break;
          case 'take': {
            const due = [...deadline].filter(([id, d]) => d <= now && leases.has(id) && !expiring.has(id)).map(([id]) => id).sort((a, b) => a - b);
            const got = l.takeExpired(now, (id) => leases.has(id));
            assert.deepEqual(got, due.slice(0, leaseExpireBatchMax));
            for (const id of got) expiring.add(id);
            proposed.push(...got);
            break;
          }
          case 'settle':
            // The proposals of the last takes were applied (the leases end) or failed.
            if (e.applied) {
              l.expired(proposed);
              for (const id of proposed) {
                leases.delete(id);
                deadline.delete(id);
                expiring.delete(id);
              }
            } else {
              l.expiryFailed(now, proposed);
              for (const id of proposed) {
                if (!expiring.delete(id)) continue;
                deadline.set(id, Math.max(deadline.get(id)!, now + leaseExpiryRetryMs));
              }
            }
            proposed = [];
            break;
        }
        for (const [id, d] of deadline) if (leases.has(id)) assert.equal(l.remainingMs(now, id), Math.max(0, d - now));
      }
    }),
    { numRuns: 300 },
  );
});
