import { formatHostPort, loadConfig } from '../config/config.js';
import { isWildcardHost } from '../config/host-port.js';

/**
 * `node dist/src/cli/healthcheck.js CONFIG`: exit 0 if the node that CONFIG
 * describes answers GET /healthz on its HTTP address, else 1 (the container
 * HEALTHCHECK). The address comes from the node's own config (environment
 * included), so no port is written twice.
 */
const TIMEOUT_MS = 3000;

async function main(): Promise<number> {
  const path = process.argv[2];
  if (path === undefined) {
    process.stderr.write('usage: healthcheck.js CONFIG\n');
    return 2;
  }
  const loaded = loadConfig(['--cfg_path', path], process.env);
  if (!loaded.ok) {
    process.stderr.write(`${loaded.error}\n`);
    return 1;
  }
  const addr = loaded.config.http.addr;
  // A node listening on every interface is asked on loopback.
  const target = formatHostPort(isWildcardHost(addr.host) ? { host: addr.host === '::' ? '::1' : '127.0.0.1', port: addr.port } : addr);
  try {
    const r = await fetch(`http://${target}/healthz`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    await r.arrayBuffer();
    if (r.status === 200) return 0;
    process.stderr.write(`http://${target}/healthz: ${r.status}\n`);
  } catch (e) {
    process.stderr.write(`http://${target}/healthz: ${(e as Error).message}\n`);
  }
  return 1;
}

main().then((code) => process.exit(code));
