export * from './rest-client.js';
export * from './grpc-client.js';
