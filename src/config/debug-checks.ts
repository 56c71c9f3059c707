import type { Check } from './checks.js';

/** `ws://` or `wss://` and a host: where the Stately inspector's bridge listens (debug.inspect_url). */
export const checkWebSocketUrl: Check<string> = (f, p) => {
  if (typeof f.value === 'string') {
    try {
      const u = new URL(f.value);
      if ((u.protocol === 'ws:' || u.protocol === 'wss:') && u.hostname !== '') return f.value;
    } catch {
      // not a URL: reported below
    }
  }
  return p.expected(f, 'a ws:// or wss:// URL (the Stately inspector bridge, e.g. ws://127.0.0.1:8080)');
};
