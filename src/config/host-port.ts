import { isIPv4, isIPv6 } from 'node:net';

/** A TCP endpoint. An IPv6 host is held without brackets ("::1"), as `net.listen` wants it. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** DNS names, and container service names, which may contain `_`. */
const hostnamePattern =
  /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$/;

/**
 * Parses `host:port` (an IPv6 host in brackets: `[::1]:7081`), port 1–65535.
 * Port 0 (pick any free port) is refused: peers must know where to reach a node.
 * Returns null when the text is not such an address.
 */
export function parseHostPort(text: string): HostPort | null {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']:');
    if (close < 0) return null;
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!isIPv6(host)) return null;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return null;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    // An all-numeric dotted host must be a real IPv4 address, not "1.2.3.999".
    const valid = /^[0-9.]+$/.test(host) ? isIPv4(host) : hostnamePattern.test(host);
    if (!valid) return null;
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 65535) return null;
  return { host, port };
}

export function formatHostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** Host names compare case-insensitively; no DNS lookup is made. */
export function sameHostPort(a: HostPort, b: HostPort): boolean {
  return a.port === b.port && a.host.toLowerCase() === b.host.toLowerCase();
}

/** Listening on a wildcard host means listening on every interface. */
export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/** Whether two listeners on this machine would collide (EADDRINUSE). */
export function listenersOverlap(a: HostPort, b: HostPort): boolean {
  return a.port === b.port && (sameHostPort(a, b) || isWildcardHost(a.host) || isWildcardHost(b.host));
}
