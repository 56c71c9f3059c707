import assert from 'node:assert/strict';
import type { NodeId } from '../../src/raft/types.js';
import { SimCluster, type ClusterOptions } from '../../sim/cluster.js';

/**
 * A test harness in the style of MIT 6.5840's raft config: a simulated cluster, a
 * record of what each node applied, and helpers that wait in simulated time.
 * Every step of the underlying simulator checks the Raft invariants, so any safety
 * violation fails the test where it happens.
 */
export class LabHarness {
  readonly cluster: SimCluster;
  /** applied[node][index] = the command text (or '' for a no-op), since the node last started. */
  readonly applied = new Map<NodeId, string[]>();
  private connected: Set<NodeId>;

  constructor(nodes: number, opts: Partial<ClusterOptions> = {}) {
    this.cluster = new SimCluster({ seed: 1, nodes, ...opts });
    this.connected = new Set(this.cluster.ids);
    const decoder = new TextDecoder();
    for (const id of this.cluster.ids) this.applied.set(id, []);
    this.cluster.onApply((node, e) => {
      this.applied.get(node)![e.index] = e.kind === 'command' ? decoder.decode(e.data) : '';
    });
  }

  get ids(): readonly NodeId[] {
    return this.cluster.ids;
  }

  get electionTimeoutMs(): number {
    return this.cluster.raftConfig.electionTimeoutMs;
  }

  now(): number {
    return this.cluster.clock.now();
  }

  runFor(ms: number): void {
    this.cluster.runFor(ms);
  }

  disconnect(id: NodeId): void {
    this.connected.delete(id);
    this.cluster.connectOnly(this.connected);
  }

  connect(id: NodeId): void {
    this.connected.add(id);
    this.cluster.connectOnly(this.connected);
  }

  isConnected(id: NodeId): boolean {
    return this.connected.has(id);
  }

  crash(id: NodeId): void {
    this.cluster.crash(id);
  }

  restart(id: NodeId): void {
    this.applied.set(id, []);
    this.cluster.restart(id);
  }

  term(id: NodeId): number {
    return this.cluster.node(id)!.status().term;
  }

  /** Leaders among running, connected nodes, by term. */
  private leadersByTerm(): Map<number, NodeId[]> {
    const byTerm = new Map<number, NodeId[]>();
    for (const id of this.ids) {
      const n = this.cluster.node(id);
      if (n === null || !this.connected.has(id)) continue;
      const s = n.status();
      if (s.role !== 'leader') continue;
      byTerm.set(s.term, [...(byTerm.get(s.term) ?? []), id]);
    }
    return byTerm;
  }

  /** Waits (up to ten election timeouts) for exactly one leader among connected nodes; returns it. */
  checkOneLeader(): NodeId {
    for (let k = 0; k < 10; k++) {
      this.runFor(this.electionTimeoutMs);
      const byTerm = this.leadersByTerm();
      if (byTerm.size === 0) continue;
      for (const [t, ids] of byTerm) assert.equal(ids.length, 1, `term ${t} has leaders ${ids.join(', ')}`);
      const lastTerm = Math.max(...byTerm.keys());
      return byTerm.get(lastTerm)![0]!;
    }
    assert.fail('expected one leader, got none');
  }

  /** All connected running nodes agree on the term; returns it. */
  checkTerms(): number {
    let t = -1;
    for (const id of this.ids) {
      if (!this.connected.has(id) || this.cluster.node(id) === null) continue;
      const nt = this.term(id);
      if (t === -1) t = nt;
      else assert.equal(nt, t, 'servers disagree on term');
    }
    return t;
  }

  checkNoLeader(): void {
    assert.equal(this.leadersByTerm().size, 0, 'expected no leader among connected servers');
  }

  /** How many nodes applied something at `index`, and what (asserting they agree). */
  nCommitted(index: number): { count: number; command: string | undefined } {
    let count = 0;
    let command: string | undefined;
    for (const id of this.ids) {
      const c = this.applied.get(id)![index];
      if (c === undefined) continue;
      if (count > 0) assert.equal(c, command, `nodes applied different commands at ${index}`);
      command = c;
      count++;
    }
    return { count, command };
  }

  /**
   * Proposes `command` at whichever node is leader, retrying for up to 10 s of
   * simulated time, until `expected` nodes hold it (by default: applied it
   * themselves; `holders` may count otherwise, e.g. through snapshots).
   */
  one(command: string | Uint8Array, expected: number, retry: boolean, holders?: (index: number, text: string) => number): number {
    const bytes = typeof command === 'string' ? new TextEncoder().encode(command) : command;
    const text = typeof command === 'string' ? command : new TextDecoder().decode(command);
    const holding =
      holders ??
      ((index: number, t: string): number => {
        const { count, command: c } = this.nCommitted(index);
        return c === t ? count : 0;
      });
    const deadline = this.now() + 10_000;
    while (this.now() < deadline) {
      let index = -1;
      for (const id of this.ids) {
        if (this.cluster.node(id) === null || !this.connected.has(id)) continue;
        const r = this.cluster.propose(id, [bytes]);
        if (r !== null && r.ok) {
          index = r.firstIndex;
          break;
        }
      }
      if (index !== -1) {
        const until = this.now() + 2_000;
        while (this.now() < until) {
          if (holding(index, text) >= expected) return index;
          this.runFor(20);
        }
        if (!retry) assert.fail(`one(${text}) failed to reach agreement at ${index}`);
      } else {
        this.runFor(50);
      }
    }
    assert.fail(`one(${text}) failed to reach agreement`);
  }

  /** Waits until at least `n` nodes applied index `index`; returns what they applied. */
  wait(index: number, n: number, startTerm: number | null): string | undefined {
    let waitMs = 10;
    for (let k = 0; k < 30; k++) {
      if (this.nCommitted(index).count >= n) break;
      this.runFor(waitMs);
      if (waitMs < 1000) waitMs *= 2;
      if (startTerm !== null && this.ids.some((id) => this.cluster.node(id) !== null && this.term(id) > startTerm)) return undefined;
    }
    const { count, command } = this.nCommitted(index);
    assert.ok(count >= n, `only ${count} decided for index ${index}; wanted ${n}`);
    return command;
  }

  messagesSent(): number {
    return this.cluster.network.counters.sent;
  }
}
