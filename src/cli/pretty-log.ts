/**
 * Renders a node's JSON log line (pino) for a person reading a terminal:
 * `12:34:56.789 n1 INFO  role changed role=leader term=2`, an error's stack on the
 * lines below. A line that is not a pino record is shown as is, after the node id,
 * so nothing a node prints is lost.
 */

const LEVELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** ANSI colours per level, used only when the output is a terminal. */
const COLOURS: Readonly<Record<number, string>> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };
/** Fields every record has, shown in the fixed columns rather than as key=value. */
const FIXED = new Set(['level', 'time', 'node', 'msg', 'pid', 'hostname', 'err']);

function clock(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** `key=value`, with objects as compact JSON and strings quoted only when they hold spaces. */
function field(key: string, value: unknown): string {
  if (typeof value === 'string') return `${key}=${/[\s="]/.test(value) || value === '' ? JSON.stringify(value) : value}`;
  return `${key}=${JSON.stringify(value)}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function prettyLogLine(line: string, nodeId: string, colour: boolean): string {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return `${nodeId} | ${line}`;
  }
  if (!isRecord(record) || typeof record['level'] !== 'number' || typeof record['time'] !== 'number') return `${nodeId} | ${line}`;
  const level = record['level'];
  const name = (LEVELS[level] ?? `L${level}`).padEnd(5);
  const shownLevel = colour ? `\x1b[${COLOURS[level] ?? '0'}m${name}\x1b[0m` : name;
  const node = typeof record['node'] === 'string' ? record['node'] : nodeId;
  const parts = [clock(record['time']), node, shownLevel, typeof record['msg'] === 'string' ? record['msg'] : ''];
  for (const [k, v] of Object.entries(record)) if (!FIXED.has(k)) parts.push(field(k, v));
  const err = record['err'];
  if (isRecord(err)) {
    parts.push(field('err', typeof err['message'] === 'string' ? err['message'] : err));
    if (typeof err['stack'] === 'string') return `${parts.join(' ')}\n    ${err['stack'].split('\n').join('\n    ')}`;
  }
  return parts.join(' ');
}
