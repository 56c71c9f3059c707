import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { ProcessCluster } from '../e2e/process-cluster.js';

const HEALTHCHECK = fileURLToPath(new URL('../../src/cli/healthcheck.js', import.meta.url));

let cluster: ProcessCluster | null = null;
after(() => cluster?.stop());

const check = (cfg: string): { code: number | null; stderr: string } => {
  const r = spawnSync(process.execPath, [HEALTHCHECK, cfg], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stderr: r.stderr };
};

test('the container healthcheck asks the node its config describes for /healthz: 0 while it answers, 1 once it is gone', async () => {
  cluster = await ProcessCluster.start(1);
  const n = cluster.nodes[0]!;
  await cluster.waitFor('the node to answer', 15_000, async () => ((await cluster!.status(n.id)) === null ? undefined : true));
  assert.equal(check(n.cfgPath).code, 0);
  await cluster.kill(n.id);
  const down = check(n.cfgPath);
  assert.equal(down.code, 1);
  assert.match(down.stderr, new RegExp(`http://127\\.0\\.0\\.1:${n.httpPort}/healthz`));
  assert.equal(check('/nonexistent/node.yml').code, 1, 'a config that does not load is unhealthy');
  assert.equal(spawnSync(process.execPath, [HEALTHCHECK]).status, 2, 'no config: usage error');
});
