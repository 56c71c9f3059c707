/**
 * WebSocket close codes of the peer protocol. 1xxx are RFC 6455's; 4xxx (the
 * private-use range) name why a listener refused a handshake, so that the dialer
 * can log a misconfiguration instead of a bare disconnect.
 */
export const CloseCode = {
  /** A newer connection from the same peer replaced this one. */
  normal: 1000,
  /** A text frame: the protocol is binary only. */
  unsupportedData: 1003,
  /** A frame that does not decode, or decodes to something Raft must not see. */
  invalidPayload: 1007,
  /** A well-formed frame out of protocol order or misaddressed. */
  policyViolation: 1008,
  wrongCluster: 4001,
  unknownNode: 4002,
  badSecret: 4003,
  /** The handshake names a different node as its target (a stale address). */
  wrongNode: 4004,
  /** Mutual TLS: the certificate does not name the node id its handshake claims. */
  badCertificate: 4005,
  /** A dialer found the listener's proof wrong: it holds another secret. */
  listenerBadSecret: 4006,
  handshakeTimeout: 4008,
} as const;

/** Whether a close code says the listener refused our handshake. */
export function isHandshakeRefusal(code: number): boolean {
  return code >= 4000 && code < 5000;
}
