import { createServer } from 'node:net';

/**
 * Ports below Linux's ephemeral range (32768–60999 by default): a port found by
 * binding port 0 comes from that range, and can be taken again, between our probe
 * and the server's listen, as the local end of any outgoing connection. Ports from
 * this range are never handed out that way.
 */
const PORT_RANGE_MIN = 15_000;
const PORT_RANGE_MAX = 30_000;

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * Distinct free TCP ports on 127.0.0.1 outside the ephemeral range, picked at
 * random so that clusters started side by side (tests, benches) rarely meet. For
 * the e2e tests and `npm run bench`, which start whole clusters on 127.0.0.1.
 */
export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) {
    const p = PORT_RANGE_MIN + Math.floor(Math.random() * (PORT_RANGE_MAX - PORT_RANGE_MIN));
    if (!ports.has(p) && (await canBind(p))) ports.add(p);
  }
  return [...ports];
}
