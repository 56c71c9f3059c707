import { LOCAL_CLUSTER_CONFIGS, LocalCluster, loadLocalNodes, parseLauncherArgs } from './local-cluster.js';
import { prettyLogLine } from './pretty-log.js';

/**
 * `npm start`: runs the local 3-node cluster of config/n1.yml … n3.yml (HTTP on
 * 8081–8083, data under ./data/) and prints the nodes' logs for people: time, node,
 * level, message, fields. `--json` (or KVSTORE_LOG_FORMAT=json) prints the raw JSON
 * lines instead, each node's as it wrote them. `--config FILE` (repeatable) runs
 * other configs. Ctrl-C (or SIGTERM) stops all nodes cleanly; if one node dies,
 * the others are stopped too.
 */
const USAGE = 'usage: npm start -- [--json] [--config FILE]...';

function main(): number | Promise<number> {
  const args = parseLauncherArgs(USAGE, { json: { type: 'boolean', default: false }, config: { type: 'string', multiple: true } });
  if (!args.ok) return args.code;
  const loaded = loadLocalNodes(args.values.config ?? LOCAL_CLUSTER_CONFIGS);
  if (!loaded.ok) {
    process.stderr.write(`${loaded.error}\n`);
    return 2;
  }
  const json = args.values.json || process.env['KVSTORE_LOG_FORMAT'] === 'json';
  const colour = process.stdout.isTTY === true;
  const print = (id: string, line: string): boolean => process.stdout.write(`${json ? line : prettyLogLine(line, id, colour)}\n`);
  const cluster = new LocalCluster(loaded.nodes, print, (id, how) =>
    // The launcher's own line about a node has the shape of the node's lines (pino, warn level).
    print(id, JSON.stringify({ level: 40, time: Date.now(), node: id, msg: `exited (${how})` })),
  );
  process.on('SIGINT', () => void cluster.stop());
  process.on('SIGTERM', () => void cluster.stop());
  return cluster.exited.then(() => 0);
}

Promise.resolve(main()).then((code) => process.exit(code));
