import type { AnyStateMachine, AnyStateNode } from 'xstate';

/**
 * A state machine's states and transitions, read from its definition (never
 * written by hand): what the cluster page draws, and what `npm run
 * machines:export` renders as a Mermaid state diagram.
 */
export interface MachineGraph {
  readonly id: string;
  readonly initial: string;
  /** The top-level states (for the role machine: the roles), with their descendants' paths. */
  readonly states: readonly { readonly id: string; readonly type: string; readonly regions: readonly string[] }[];
  /** Between top-level states: transitions of a descendant count as its top-level state's. */
  readonly edges: readonly MachineEdge[];
}

export interface MachineEdge {
  readonly from: string;
  readonly to: string;
  /** The events that take it, as short names: `after randomizedElectionTimeout`, `always`, `requestVote`. */
  readonly events: readonly string[];
  readonly guard: string | null;
  /** The actions of every transition the edge stands for, each once. */
  readonly actions: readonly string[];
  /** A transition that leaves and enters its state again (timers restart). */
  readonly reenter: boolean;
}

/** The event of a transition as a person reads it. */
function eventName(eventType: string): string {
  if (eventType === '') return 'always';
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType);
  return after === null ? eventType : `after ${after[1]}`;
}

function guardName(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  // Combinators (and, or, not) are functions that keep what they combine.
  const g = guard as { type?: string; guards?: unknown[]; name?: string };
  if (Array.isArray(g.guards)) return g.guards.map(guardName).join(typeof guard === 'function' && g.name === 'or' ? ' || ' : ' && ');
  if (typeof guard === 'function') return guard.name || 'guard';
  return g.type ?? 'guard';
}

function actionName(a: unknown): string {
  if (typeof a === 'string') return a;
  if (typeof a === 'function') return (a as { type?: string }).type ?? a.name ?? 'action';
  return (a as { type?: string }).type ?? 'action';
}

function topLevelOf(node: AnyStateNode, root: AnyStateNode): string {
  let n = node;
  while (n.parent !== undefined && n.parent !== root) n = n.parent;
  return n.key;
}

function descendants(node: AnyStateNode): AnyStateNode[] {
  const out: AnyStateNode[] = [node];
  for (const child of Object.values(node.states)) out.push(...descendants(child));
  return out;
}

/** Every transition of `machine`, grouped by (from, to, guard) between top-level states. */
export function machineGraph(machine: AnyStateMachine, allEventsName?: { readonly events: readonly string[]; readonly name: string }): MachineGraph {
  const root = machine.root;
  const tops = Object.values(root.states);
  const grouped = new Map<string, { edge: Omit<MachineEdge, 'events' | 'actions'>; events: string[]; actions: string[] }>();
  const add = (from: string, t: { target?: readonly AnyStateNode[] | undefined; eventType: string; guard?: unknown; actions: readonly unknown[]; reenter: boolean }): void => {
    const targets = t.target ?? [];
    // A transition without a target runs its actions and stays: no edge in the diagram.
    for (const target of targets) {
      const to = target === root ? from : topLevelOf(target, root);
      const edge = { from, to, guard: guardName(t.guard), reenter: t.reenter || from === to };
      const key = JSON.stringify(edge);
      const g = grouped.get(key) ?? { edge, events: [], actions: [] };
      const name = eventName(t.eventType);
      if (!g.events.includes(name)) g.events.push(name);
      for (const a of t.actions.map(actionName)) if (!g.actions.includes(a)) g.actions.push(a);
      grouped.set(key, g);
    }
  };
  for (const top of tops) {
    for (const node of descendants(top)) {
      for (const [, ts] of node.transitions) for (const t of ts) add(top.key, t);
      for (const t of node.always ?? []) add(top.key, t);
    }
  }
  // The root's own transitions apply in every state.
  for (const [, ts] of root.transitions) for (const t of ts) for (const top of tops) add(top.key, t);
  const edges = [...grouped.values()].map(({ edge, events, actions }) => ({
    ...edge,
    actions,
    events: allEventsName !== undefined && allEventsName.events.every((e) => events.includes(e)) ? [allEventsName.name, ...events.filter((e) => !allEventsName.events.includes(e))] : events,
  }));
  return {
    id: machine.id,
    initial: String(root.initial?.target[0]?.key ?? tops[0]?.key),
    states: tops.map((s) => ({ id: s.key, type: s.type, regions: Object.keys(s.states) })),
    edges,
  };
}

/** A Mermaid state diagram of the graph (`stateDiagram-v2`): one line per edge, labelled with its events and guard. */
export function toMermaid(g: MachineGraph): string {
  const lines = ['stateDiagram-v2', `  [*] --> ${g.initial}`];
  for (const s of g.states) {
    if (s.type === 'parallel' && s.regions.length > 0) lines.push(`  ${s.id}: ${s.id} (parallel: ${s.regions.join(', ')})`);
  }
  for (const e of g.edges) {
    const label = e.events.join(', ') + (e.guard === null ? '' : ` [${e.guard}]`);
    lines.push(`  ${e.from} --> ${e.to}: ${label.replace(/:/g, ' ')}`);
  }
  return lines.join('\n') + '\n';
}
