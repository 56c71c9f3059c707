// One contender of the lock test (test/e2e/lock.test.ts), as its own process:
// takes the lock, increments a counter by a plain read then write (only safe
// under mutual exclusion), makes a fenced write (a transaction that holds only
// while the lock key is still at the token's revision), releases it; again until
// the time is up. Prints one JSON line per critical section. The test runner
// also loads every file under test/: without the contender's arguments it does nothing.
import { setTimeout as delay } from 'node:timers/promises';
import { KvClient } from '../../src/client/index.js';

const [endpoints, name, runMs] = process.argv.slice(2);

/** Retried until it is answered (the cluster may be electing a leader). */
async function must<T extends { ok: boolean }>(f: () => Promise<T>): Promise<T & { ok: true }> {
  for (;;) {
    const r = await f();
    if (r.ok) return r as T & { ok: true };
    await delay(50);
  }
}

async function contend(client: KvClient, name: string, until: number): Promise<void> {
  while (Date.now() < until) {
    const taken = await client.lock('locks/counter', { ttlSeconds: 3, timeoutMs: 30_000 });
    if (!taken.ok) {
      process.stdout.write(`${JSON.stringify({ name, error: taken.error })}\n`);
      continue;
    }
    const lock = taken.lock;
    const acquiredAt = Date.now();
    // A read that fails (the cluster electing a leader) is retried: only "no such key" means zero.
    let current = await client.get('counter');
    while (!current.ok && current.error !== 'key_not_found') current = await client.get('counter');
    const n = current.ok ? Number(Buffer.from(current.value).toString()) : 0;
    await delay(20);
    const wrote = await must(() => client.put('counter', String(n + 1)));
    const fenced = await must(() => client.txn({ compare: [{ key: 'locks/counter', target: 'revision', revision: lock.token }], success: [{ op: 'put', key: `fenced/${name}`, value: String(lock.token) }] }));
    const releasedAt = Date.now();
    const lost = lock.lease.loss;
    await lock.unlock();
    process.stdout.write(`${JSON.stringify({ name, token: lock.token, acquiredAt, releasedAt, read: n, wroteAt: wrote.revision, fenced: fenced.succeeded, lost })}\n`);
  }
}

if (endpoints !== undefined && name !== undefined && runMs !== undefined) await contend(new KvClient({ endpoints: endpoints.split(','), callTimeoutMs: 20_000 }), name, Date.now() + Number(runMs));
