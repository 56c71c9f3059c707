import { createServer, type Server } from 'node:http';
import { loadUiAssets } from './assets.js';

/**
 * Serves the cluster page in replay mode over a trace file's text (npm run
 * sim:view): the page, its assets and the trace, nothing else, on 127.0.0.1.
 */
export function serveReplay(trace: string, port: number, host = '127.0.0.1'): Promise<Server> {
  const { page, assets } = loadUiAssets('replay');
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-cache' }).end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'application/json', '{"error":"method_not_allowed","message":"the replay viewer only serves GET"}');
    if (path === '/' || path === '/ui' || path === '/ui/') return send(200, page.type, page.body);
    if (path === '/ui/replay.jsonl') return send(200, 'application/x-ndjson', trace);
    const asset = path.startsWith('/ui/assets/') ? assets.get(path.slice('/ui/assets/'.length)) : undefined;
    if (asset !== undefined) return send(200, asset.type, asset.body);
    send(404, 'application/json', '{"error":"not_found","message":"the replay viewer serves /ui"}');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
