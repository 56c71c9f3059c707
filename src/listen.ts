import type { Server } from 'node:net';
import type { Logger } from './log.js';

/**
 * Starts `server` listening (a failure to bind rejects, naming nothing else), then
 * logs later listener errors instead of throwing them; resolves with the port bound
 * (port 0 picks a free one).
 */
export async function listenOn(server: Server, host: string, port: number, log: Logger, what: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, `${what} listener error`));
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : port;
}
