import type { PeerCertificate } from 'node:tls';

/**
 * The key material of mutual TLS between peers (PEM): every node presents its own
 * certificate and trusts the cluster CA. Both ends check that the other's
 * certificate names the node id it claims, so a certificate stolen from one node
 * cannot speak for another.
 */
export interface PeerTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

/**
 * Whether `cert` names node `id`: as a DNS name in its subjectAltName, or as its
 * subject CN when it has no DNS names. Addresses are not checked: a peer's address
 * may differ from node to node (NAT, proxies; SPEC §2), its id may not.
 */
export function certificateNames(cert: PeerCertificate, id: string): boolean {
  const dnsNames = (cert.subjectaltname ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice('DNS:'.length));
  if (dnsNames.length > 0) return dnsNames.includes(id);
  const cn = cert.subject?.CN;
  return Array.isArray(cn) ? cn.includes(id) : cn === id;
}

/** What a certificate names, for a log line. */
export function describeCertificate(cert: PeerCertificate | null | undefined): string {
  if (cert === null || cert === undefined || Object.keys(cert).length === 0) return 'no certificate';
  const cn = cert.subject?.CN;
  return `CN=${Array.isArray(cn) ? cn.join('+') : (cn ?? '')} ${cert.subjectaltname ?? ''}`.trim();
}
