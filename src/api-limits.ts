// The limits of the client-facing listeners (REST and gRPC), each a config key
// (http.* and grpc.*, config/config.example.yml). Every one bounds what a client,
// or many, can hold of the node: sockets, requests in progress, and time.

export interface ListenerLimits {
  /** Sockets open at once; more are dropped at accept. */
  readonly connectionsMax: number;
  /** Requests (gRPC calls) in progress at once; more are refused 429 / RESOURCE_EXHAUSTED with Retry-After. */
  readonly requestsMax: number;
  /** From accept to a complete request head (REST), or to the TLS handshake and first bytes (gRPC). */
  readonly headerTimeoutMs: number;
  /** From accept to the whole request, body included (REST); from the call's start to its request message (gRPC). */
  readonly bodyTimeoutMs: number;
  /** How long a connection with nothing in progress stays open. */
  readonly keepAliveTimeoutMs: number;
}

export const apiLimitDefaults: { readonly http: ListenerLimits; readonly grpc: ListenerLimits } = Object.freeze({
  http: Object.freeze({ connectionsMax: 1024, requestsMax: 512, headerTimeoutMs: 10_000, bodyTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000 }),
  // gRPC clients keep channels open between calls, so idle connections live longer.
  grpc: Object.freeze({ connectionsMax: 1024, requestsMax: 512, headerTimeoutMs: 10_000, bodyTimeoutMs: 30_000, keepAliveTimeoutMs: 300_000 }),
});
