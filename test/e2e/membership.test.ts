import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { tokenHash } from '../../src/auth/tokens.js';
import { KvClient } from '../../src/client/rest-client.js';
import { ProcessCluster } from './process-cluster.js';

const ELECTION_MS = 500;
/** "A few election timeouts", generously: process start-up and a loaded CI machine included. */
const WITHIN_MS = 20 * ELECTION_MS;
/** Answers a client may see and retry: the write was not applied, or may have been (504, retried with its key). */
const RETRYABLE = new Set(['no_leader', 'overloaded', 'node_stopping', 'unavailable', 'outcome_unknown', 'connection_lost', 'too_many_requests']);

/**
 * A client load that runs through every change: PUTs of increasing values n to
 * the key `keyOf(n)`, each acknowledged one remembered. At the end every
 * acknowledged write must be readable (or overwritten by a later acknowledged
 * one), and the only errors seen are retryable ones.
 */
class Load {
  private running = true;
  readonly acknowledged = new Map<string, number>();
  readonly errors = new Map<string, number>();
  private readonly done: Promise<void>;

  constructor(
    private readonly client: KvClient,
    private readonly keyOf: (n: number) => string,
  ) {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    for (let n = 1; this.running; n++) {
      const key = this.keyOf(n);
      const r = await this.client.put(key, String(n));
      if (r.ok) this.acknowledged.set(key, n);
      else this.errors.set(r.error, (this.errors.get(r.error) ?? 0) + 1);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

async function waitForVoters(c: ProcessCluster, voters: readonly string[], token?: string): Promise<void> {
  const want = [...voters].sort().join(',');
  let seen = '';
  await c.waitFor(() => `voters ${want} (last seen ${seen})`, WITHIN_MS, async () => {
    const r = await new KvClient({ endpoints: c.nodes.filter((n) => n.proc !== null).map((n) => c.url(n.id, '')), ...(token === undefined ? {} : { token }) }).members();
    if (!r.ok) return undefined;
    seen = r.members.map((m) => `${m.id}:${m.role}`).join(',');
    const got = r.members.filter((m) => m.role === 'voter').map((m) => m.id).sort().join(',');
    return got === want && r.committed && r.members.length === voters.length ? true : undefined;
  });
}

describe('membership changes on real processes', { concurrency: false }, () => {
  let c: ProcessCluster;
  let load: Load;

  after(async () => {
    await load?.stop();
    await c?.stop();
  });

  test('grows from 3 to 5 through raft.join under load: each new node catches up and is promoted', async () => {
    c = await ProcessCluster.start(3, ELECTION_MS);
    await c.waitForLeader(WITHIN_MS);
    load = new Load(
      new KvClient({ endpoints: ['n1', 'n2', 'n3'].map((id) => c.url(id, '')) }),
      (n) => `load-${n % 8}`,
    );
    await c.join('n4', 'n2');
    await waitForVoters(c, ['n1', 'n2', 'n3', 'n4']);
    await c.join('n5', 'n3');
    await waitForVoters(c, ['n1', 'n2', 'n3', 'n4', 'n5']);
    // The new member knows the whole configuration itself.
    await c.waitFor('n5 to hold the configuration of five', WITHIN_MS, async () => {
      const r = await new KvClient({ endpoints: [c.url('n5', '')] }).members({ stale: true });
      return r.ok && r.members.map((m) => m.id).join() === 'n1,n2,n3,n4,n5' ? true : undefined;
    });
  });

  test('a learner cannot vote, a change while one is in flight is refused, the last voter cannot be removed', async () => {
    const client = new KvClient({ endpoints: c.nodes.map((n) => c.url(n.id, '')) });
    const bad = await client.promoteMember('n4');
    assert.ok(!bad.ok && bad.kind === 'failed' && bad.error === 'not_learner', JSON.stringify(bad));
    const unknown = await client.removeMember('nobody');
    assert.ok(!unknown.ok && unknown.kind === 'failed' && unknown.error === 'member_not_found' && unknown.status === 404, JSON.stringify(unknown));
  });

  test('leadership moves to a named member under load, and back to the most up-to-date one', async () => {
    const leader = await c.waitForLeader(WITHIN_MS);
    const target = ['n4', 'n5'].find((id) => id !== leader)!;
    const client = new KvClient({ endpoints: [c.url(leader, '')] });
    const r = await client.transferLeader(target);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.leaderId, target);
    assert.equal(await c.waitForLeader(WITHIN_MS), target);
    const any = await new KvClient({ endpoints: [c.url(target, '')] }).transferLeader();
    assert.ok(any.ok && any.leaderId !== target, JSON.stringify(any));
  });

  test('a SIGTERM\'d leader hands over before it exits', async () => {
    const leader = await c.waitForLeader(WITHIN_MS);
    const term = (await c.status(leader))!.term;
    assert.equal(await c.kill(leader, 'SIGTERM'), 0);
    const others = c.nodes.filter((n) => n.proc !== null).map((n) => n.id);
    const next = await c.waitForLeader(WITHIN_MS, others);
    // A handover is one election, started by the target at once: exactly one term later.
    assert.equal((await c.status(next))!.term, term + 1);
    c.restart(leader);
    await c.waitForLeader(WITHIN_MS);
  });

  test('shrinks back to 3, replacing n1 and n2 by n4 and n5; the removed nodes say so and do not lead', async () => {
    const client = new KvClient({ endpoints: c.nodes.map((n) => c.url(n.id, '')) });
    for (const id of ['n1', 'n2']) {
      const r = await client.removeMember(id);
      assert.ok(r.ok, JSON.stringify(r));
      assert.ok(!r.members.some((m) => m.id === id));
    }
    await waitForVoters(c, ['n3', 'n4', 'n5']);
    // The leader replicates to a removed member until it holds the entry that removed it (README "Membership").
    for (const id of ['n1', 'n2']) {
      let last: unknown = null;
      const st = await c.waitFor(() => `${id} to report its removal (last status ${JSON.stringify(last)})`, WITHIN_MS, async () => {
        const s = (await c.status(id)) as (Awaited<ReturnType<ProcessCluster['status']>> & { membership?: string }) | null;
        last = s;
        return s?.membership === 'removed' ? s : undefined;
      });
      assert.notEqual(st.role, 'leader', `${id} leads after its removal`);
      await c.kill(id);
    }
    await c.waitForLeader(WITHIN_MS, ['n3', 'n4', 'n5']);
  });

  test('a rolling restart of the remaining members (SIGTERM each in turn) loses no acknowledged write', async () => {
    for (const id of ['n3', 'n4', 'n5']) {
      assert.equal(await c.kill(id, 'SIGTERM'), 0);
      c.restart(id);
      await c.waitForLeader(WITHIN_MS, ['n3', 'n4', 'n5']);
    }
    await load.stop();
    const unexpected = [...load.errors].filter(([e]) => !RETRYABLE.has(e));
    assert.deepEqual(unexpected, [], `errors other than retryable ones: ${JSON.stringify([...load.errors])}`);
    assert.ok(load.acknowledged.size > 0, 'the load wrote nothing');
    const reader = new KvClient({ endpoints: ['n3', 'n4', 'n5'].map((id) => c.url(id, '')) });
    for (const [key, n] of load.acknowledged) {
      const r = await reader.get(key);
      assert.ok(r.ok, `${key}: ${JSON.stringify(r)}`);
      assert.ok(Number(Buffer.from(r.value).toString()) >= n, `${key} = ${Buffer.from(r.value).toString()}, but ${n} was acknowledged`);
    }
  });

  test('replaces a member by a new id with an empty data directory (raft.join) under load: every acknowledged write is read back', async (t) => {
    // A key of its own for each write, so that every acknowledged one can be read back, not just the last of a key.
    const writes = new Load(
      new KvClient({ endpoints: ['n3', 'n4', 'n5'].map((id) => c.url(id, '')) }),
      (n) => `rep-${n}`,
    );
    const ackedAtLeast = (n: number, what: string) => c.waitFor(what, WITHIN_MS, async () => (writes.acknowledged.size >= n ? true : undefined));
    try {
      await ackedAtLeast(20, 'writes acknowledged before the replacement');
      const client = new KvClient({ endpoints: ['n3', 'n4', 'n5'].map((id) => c.url(id, '')) });
      const r = await client.removeMember('n3');
      assert.ok(r.ok, JSON.stringify(r));
      await waitForVoters(c, ['n4', 'n5']);
      await c.kill('n3');
      await c.join('n6', 'n4');
      await waitForVoters(c, ['n4', 'n5', 'n6']);
      await ackedAtLeast(writes.acknowledged.size + 20, 'writes acknowledged after the replacement');
    } finally {
      await writes.stop();
    }
    const unexpected = [...writes.errors].filter(([e]) => !RETRYABLE.has(e));
    assert.deepEqual(unexpected, [], `errors other than retryable ones: ${JSON.stringify([...writes.errors])}`);
    // Read back through the new member alone: a linearizable listing, page by page.
    const stored = new Map<string, string>();
    for await (const e of new KvClient({ endpoints: [c.url('n6', '')] }).listAll('rep-')) stored.set(Buffer.from(e.key).toString(), Buffer.from(e.value!).toString());
    const lost = [...writes.acknowledged].filter(([k, n]) => stored.get(k) !== String(n));
    assert.deepEqual(lost, [], `${lost.length} of ${writes.acknowledged.size} acknowledged writes not read back`);
    t.diagnostic(`${writes.acknowledged.size} acknowledged writes read back from n6; retryable errors: ${JSON.stringify([...writes.errors])}`);
  });
});

describe('joining a cluster with authentication on', { concurrency: false }, () => {
  const ADMIN = 'e2e-admin-token-0123456789abcdef';
  const READ = 'e2e-read-token-0123456789abcdef';
  const tokens = `[{name: ops, role: admin, sha256: "${tokenHash(ADMIN)}"}, {name: viewer, role: read, sha256: "${tokenHash(READ)}"}]`;
  let c: ProcessCluster;

  after(async () => {
    await c?.stop();
  });

  test('a node joins with an admin token from raft.join_token_file; with a read token it is refused for good and never listed', async () => {
    c = await ProcessCluster.start(3, ELECTION_MS, { token: ADMIN, prepare: (n) => Object.assign(n.env, { KV_AUTH_TOKENS: tokens }) });
    await c.waitForLeader(WITHIN_MS);
    const tokenFile = (name: string, token: string): string => {
      const path = join(c.dir, name);
      writeFileSync(path, `${token}\n`);
      return path;
    };
    const admin = new KvClient({ endpoints: ['n1', 'n2', 'n3'].map((id) => c.url(id, '')), token: ADMIN });

    const weak = await c.join('n4', 'n1', { KV_AUTH_TOKENS: tokens, KV_RAFT_JOIN_TOKEN_FILE: tokenFile('read-token', READ) });
    await c.waitFor('n4 to say its join was refused', WITHIN_MS, async () => {
      const out = weak.output.join('');
      return out.includes('joining the cluster failed') && out.includes('permission_denied') ? true : undefined;
    });
    const listed = await admin.members();
    assert.ok(listed.ok, JSON.stringify(listed));
    assert.deepEqual(listed.members.map((m) => m.id), ['n1', 'n2', 'n3']);
    await c.kill('n4');

    await c.join('n5', 'n2', { KV_AUTH_TOKENS: tokens, KV_RAFT_JOIN_TOKEN_FILE: tokenFile('admin-token', ADMIN) });
    await waitForVoters(c, ['n1', 'n2', 'n3', 'n5'], ADMIN);
    const put = await admin.put('after-join', 'yes');
    assert.ok(put.ok, JSON.stringify(put));
    await c.waitForValue('n5', 'after-join', 'yes', WITHIN_MS);
  });
});
