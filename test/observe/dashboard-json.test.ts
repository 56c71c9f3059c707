import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dashboardQueries, expandQuery, loadDashboard, nodeVariable, renderLegend } from '../../src/observe/dashboard.js';

interface Panel {
  type: string;
  id: number;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { uid?: string };
  targets?: { refId: string; expr: string; datasource?: { uid?: string } }[];
  panels?: Panel[];
}

const dashboard = loadDashboard() as { uid: string; schemaVersion: number; panels: Panel[]; templating: { list: Record<string, unknown>[] } };

test('dashboards/kvstore.json: a current Grafana schema, the rows the README lists, unique ids, panels inside the 24-column grid', () => {
  assert.equal(dashboard.uid, 'kvstore');
  assert.ok(dashboard.schemaVersion >= 39, `schemaVersion ${dashboard.schemaVersion} (Grafana 10.4 and later write 39 or more)`);
  const rows = dashboard.panels.filter((p) => p.type === 'row').map((p) => p.title);
  assert.deepEqual(rows, ['Cluster', 'Requests', 'KV operations', 'Raft', 'Node.js']);
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const p of dashboard.panels) {
    assert.ok(p.gridPos.x >= 0 && p.gridPos.w >= 1 && p.gridPos.x + p.gridPos.w <= 24, `${p.title}: gridPos ${JSON.stringify(p.gridPos)}`);
    if (p.type === 'row') continue;
    assert.equal(p.datasource?.uid, '${datasource}', `${p.title} uses the dashboard's data source variable`);
    const refIds = p.targets!.map((t) => t.refId);
    assert.equal(new Set(refIds).size, refIds.length, `${p.title}: refIds are unique`);
    for (const t of p.targets!) assert.equal(t.datasource?.uid, '${datasource}');
  }
});

test('dashboards/kvstore.json: $node is a multi-value variable with All, found by label_values over a Raft metric; panels filter by it', () => {
  const node = dashboard.templating.list.find((v) => v['name'] === 'node')!;
  assert.equal(node['type'], 'query');
  assert.equal(node['multi'], true);
  assert.equal(node['includeAll'], true);
  assert.deepEqual(nodeVariable(dashboard), { metric: 'kvstore_raft_term', label: 'node' });
  const datasource = dashboard.templating.list.find((v) => v['name'] === 'datasource')!;
  assert.equal(datasource['type'], 'datasource');
  assert.equal(datasource['query'], 'prometheus');
  // Cluster-wide stats are the only panels that do not filter by node.
  const unfiltered = new Set(dashboardQueries(dashboard).filter((q) => !q.expr.includes('$node')).map((q) => q.panel));
  assert.deepEqual([...unfiltered].sort(), ['Leaders', 'Members up']);
});

test('every query names only kvstore metrics and Prometheus\'s up, and expands to a query without variables', () => {
  const queries = dashboardQueries(dashboard);
  assert.ok(queries.length >= 40);
  for (const q of queries) {
    const expanded = expandQuery(q.expr, { nodes: ['n1', 'n2', 'n3'], rateInterval: '20s' });
    assert.doesNotMatch(expanded, /\$/, `${q.panel}: ${expanded}`);
    // Selectors (a name before `{`) and every kvstore_ name, also those used without one.
    const metrics = [...(q.expr.match(/[a-zA-Z_:][a-zA-Z0-9_:]*(?=\{)/g) ?? []), ...(q.expr.match(/\bkvstore_\w+/g) ?? [])];
    assert.ok(metrics.length > 0, `${q.panel}: no metric in ${q.expr}`);
    for (const m of metrics) assert.ok(m.startsWith('kvstore_') || m === 'up', `${q.panel}: ${m}`);
  }
});

test('expandQuery: $node and ${node} become the regex of all nodes, escaped; $__rate_interval the interval; other variables are refused', () => {
  const vars = { nodes: ['n1', 'a.b'], rateInterval: '20s' };
  assert.equal(expandQuery('rate(x{node=~"$node"}[$__rate_interval])', vars), 'rate(x{node=~"(n1|a\\\\.b)"}[20s])');
  assert.equal(expandQuery('x{node=~"${node}"}', vars), 'x{node=~"(n1|a\\\\.b)"}');
  assert.throws(() => expandQuery('x{job="$job"}', vars), /unknown variable \$job/);
  assert.throws(() => expandQuery('x', { nodes: [], rateInterval: '1m' }), /no values/);
  assert.equal(renderLegend('{{node}} → {{peer}}', { node: 'n1', peer: 'n2' }), 'n1 → n2');
  assert.equal(renderLegend('', { node: 'n1' }), '{"node":"n1"}');
});

test('dashboardQueries: a panel without queries or a query without an expression is an error, naming the panel', () => {
  const panel = (targets: unknown[]): unknown => ({ panels: [{ type: 'row', title: 'R', panels: [] }, { type: 'timeseries', title: 'P', targets }] });
  assert.throws(() => dashboardQueries(panel([])), /panel "P" has no queries/);
  assert.throws(() => dashboardQueries(panel([{ refId: 'A', expr: ' ' }])), /panel "P" has a query without an expression/);
  assert.deepEqual(
    dashboardQueries(panel([{ refId: 'A', expr: 'up', legendFormat: '{{job}}' }])).map((q) => [q.row, q.panel, q.refId, q.expr, q.legend]),
    [['R', 'P', 'A', 'up', '{{job}}']],
  );
});
