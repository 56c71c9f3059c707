export * from './rest-client.js';
