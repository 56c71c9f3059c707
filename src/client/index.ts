export * from './common.js';
export * from './rest-client.js';
export * from './grpc-client.js';
export { encodeKey } from './json-forms.js';
export { Lease, Lock, type LeaseLoss, type LockOptions, type LockResult } from './lease-lock.js';
export { WatchEnded, type WatchOptions, type WatchedChange, type WatchedRevision } from './watch-stream.js';
