import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** dashboards/kvstore.json, from the package root (this file runs as dist/src/observe/dashboard.js). */
export const DASHBOARD_PATH = fileURLToPath(new URL('../../../dashboards/kvstore.json', import.meta.url));

/** One query of one panel, with the row it sits in. */
export interface PanelQuery {
  readonly row: string;
  readonly panel: string;
  readonly refId: string;
  readonly expr: string;
  readonly legend: string;
  readonly unit: string;
}

/** What Grafana would put in place of the dashboard's variables. */
export interface Variables {
  /** The values of `$node` (all of them, as when "All" is selected). */
  readonly nodes: readonly string[];
  /** `$__rate_interval`, e.g. `20s`: Grafana makes it at least four scrape intervals. */
  readonly rateInterval: string;
}

interface RawPanel {
  readonly type?: unknown;
  readonly title?: unknown;
  readonly panels?: unknown;
  readonly targets?: unknown;
  readonly fieldConfig?: { readonly defaults?: { readonly unit?: unknown } };
}

function asArray(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function loadDashboard(path = DASHBOARD_PATH): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/**
 * Every query of every panel, in the order a reader sees them; panels inside a
 * collapsed row count as that row's. Throws on a panel without a title or a
 * target without an expression: a dashboard a test cannot check is broken.
 */
export function dashboardQueries(dashboard: unknown): PanelQuery[] {
  if (!isObject(dashboard)) throw new Error('the dashboard is not a JSON object');
  const out: PanelQuery[] = [];
  let row = '(top)';
  const visit = (p: RawPanel): void => {
    if (typeof p.title !== 'string' || p.title === '') throw new Error(`a panel without a title in row ${row}`);
    if (p.type === 'row') {
      row = p.title;
      for (const inner of asArray(p.panels)) visit(inner as RawPanel);
      return;
    }
    const targets = asArray(p.targets);
    if (targets.length === 0) throw new Error(`panel "${p.title}" has no queries`);
    const unit = typeof p.fieldConfig?.defaults?.unit === 'string' ? p.fieldConfig.defaults.unit : 'short';
    for (const t of targets) {
      if (!isObject(t) || typeof t['expr'] !== 'string' || t['expr'].trim() === '') throw new Error(`panel "${p.title}" has a query without an expression`);
      out.push({ row, panel: p.title, refId: String(t['refId'] ?? '?'), expr: t['expr'], legend: typeof t['legendFormat'] === 'string' ? t['legendFormat'] : '', unit });
    }
  };
  for (const p of asArray(dashboard['panels'])) visit(p as RawPanel);
  return out;
}

/** The `$node` variable's query, `label_values(METRIC, LABEL)`: where Grafana finds the nodes. */
export function nodeVariable(dashboard: unknown): { readonly metric: string; readonly label: string } {
  const list = isObject(dashboard) && isObject(dashboard['templating']) ? asArray(dashboard['templating']['list']) : [];
  const v = list.find((x) => isObject(x) && x['name'] === 'node');
  const definition = isObject(v) ? v['definition'] : undefined;
  const m = typeof definition === 'string' ? /^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/.exec(definition) : null;
  if (m === null) throw new Error('the dashboard has no $node variable of the form label_values(metric, label)');
  return { metric: m[1]!, label: m[2]! };
}

/**
 * A query as Grafana sends it: `$node` (or `${node}`) becomes the regex of every
 * node, `(n1|n2|n3)`, as for a multi-value variable set to All; `$__rate_interval`
 * the given interval. Any other variable is an error: the checks would not know
 * what Grafana puts there.
 */
export function expandQuery(expr: string, vars: Variables): string {
  if (vars.nodes.length === 0) throw new Error('no values for $node');
  // Regex metacharacters escaped for RE2, and the backslash again for the PromQL string literal.
  const nodes = `(${vars.nodes.map((n) => n.replace(/[.+*?()|[\]{}^$\\]/g, (c) => `\\\\${c}`)).join('|')})`;
  const out = expr.replace(/\$\{node\}|\$node\b/g, nodes).replace(/\$__rate_interval\b/g, vars.rateInterval);
  const left = /\$\{?[A-Za-z_]\w*/.exec(out);
  if (left !== null) throw new Error(`unknown variable ${left[0]} in ${expr}`);
  return out;
}

/** A legend as Grafana renders it: `{{label}}` replaced by the series' label value. */
export function renderLegend(legend: string, labels: Readonly<Record<string, string>>): string {
  const text = legend.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, name: string) => labels[name] ?? '');
  return text === '' ? JSON.stringify(labels) : text;
}
