export * from './common.js';
export * from './rest-client.js';
export * from './grpc-client.js';
export { encodeKey } from './json-forms.js';
