import { keyBytesMax } from '../kv/limits.js';
import { errorCatalog, type ErrorCode } from '../errors.js';

/** The error body every failing route answers with (SPEC §3). */
const errorSchema = {
  type: 'object',
  required: ['error', 'message'],
  additionalProperties: false,
  properties: {
    error: { type: 'string', enum: Object.keys(errorCatalog) },
    message: { type: 'string' },
  },
} as const;

const errorResponse = (description: string, ...codes: ErrorCode[]): object => ({
  description: `${description} (codes: ${codes.join(', ')})`,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

const retryAfter = { 'Retry-After': { description: 'seconds to wait before retrying', schema: { type: 'string' } } };
const redirect = {
  description: 'this node does not lead: repeat the request at Location (code not_leader)',
  headers: {
    Location: { description: "the leader's URL for the same path and query", schema: { type: 'string' } },
    'X-Raft-Leader': { description: "the leader's node id", schema: { type: 'string' } },
  },
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
};
const unavailable = { ...errorResponse('no leader known, or overloaded; not applied, retry after Retry-After', 'no_leader', 'overloaded'), headers: retryAfter };
const methodNotAllowed = {
  ...errorResponse('method not supported on this route', 'method_not_allowed'),
  headers: { Allow: { description: 'the methods the route takes', schema: { type: 'string' } } },
};
const options = { summary: 'Allowed methods (and a CORS preflight when CORS is on)', responses: { '204': { description: 'Allow lists the methods' } } };

const keyParam = {
  name: 'key',
  in: 'path',
  required: true,
  description: `the whole rest of the path, slashes included, percent-decoded to bytes: 1 to ${keyBytesMax} bytes`,
  schema: { type: 'string' },
};
const ifMatch = { name: 'If-Match', in: 'header', required: false, description: 'apply only if the revision is R: "R"', schema: { type: 'string' } };
const idempotencyKey = { name: 'Idempotency-Key', in: 'header', required: false, description: 'a retry with the same key is applied once and answered with the first result', schema: { type: 'string' } };

const writeErrors = {
  '307': redirect,
  '400': errorResponse('bad key, query, precondition or Idempotency-Key', 'bad_key', 'bad_request', 'bad_precondition'),
  '405': methodNotAllowed,
  '412': errorResponse('precondition failed', 'revision_mismatch'),
  '503': unavailable,
  '504': errorResponse('the write may or may not have been applied', 'outcome_unknown'),
};

const fixedRoute = (summary: string, ok: object, extra: Record<string, object> = {}): object => ({
  get: { summary, responses: { '200': ok, '405': methodNotAllowed, ...extra } },
  head: { summary: `${summary} (headers only)`, responses: { '200': { description: 'as GET, without the body' }, ...extra } },
  options,
});

const statusSchema = {
  type: 'object',
  required: ['id', 'role', 'term', 'leader_id', 'commit_index', 'applied_index', 'last_log_index', 'members'],
  properties: {
    id: { type: 'string' },
    role: { type: 'string', enum: ['leader', 'follower', 'candidate', 'pre_candidate'] },
    term: { type: 'integer', minimum: 0 },
    leader_id: { type: ['string', 'null'] },
    commit_index: { type: 'integer', minimum: 0 },
    applied_index: { type: 'integer', minimum: 0 },
    last_log_index: { type: 'integer', minimum: 0 },
    members: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'raft_addr', 'http_addr', 'grpc_addr'],
        properties: { id: { type: 'string' }, raft_addr: { type: 'string' }, http_addr: { type: 'string' }, grpc_addr: { type: 'string' } },
      },
    },
  },
} as const;

/** The OpenAPI 3.1 description of the REST API (SPEC §3), served at GET /openapi.json. */
export const openApiDocument = {
  openapi: '3.1.0',
  info: { title: 'kvstore REST API', version: '1', description: 'A strongly consistent key-value store on Raft. Errors are {"error", "message"} with a catalog code.' },
  paths: {
    '/v1/kv/{key}': {
      parameters: [keyParam],
      get: {
        summary: 'Read a key',
        parameters: [{ name: 'consistency', in: 'query', required: false, schema: { type: 'string', enum: ['linearizable', 'lease', 'stale'], default: 'linearizable' } }],
        responses: {
          '200': {
            description: 'the raw value',
            headers: { ETag: { description: 'the revision, "R"', schema: { type: 'string' } } },
            content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } },
          },
          '307': redirect,
          '400': errorResponse('bad key or query', 'bad_key', 'bad_request'),
          '404': errorResponse('no such key', 'key_not_found'),
          '405': methodNotAllowed,
          '503': unavailable,
          '504': errorResponse('the read could not be confirmed in time', 'outcome_unknown'),
        },
      },
      head: { summary: 'Read a key (headers only)', responses: { '200': { description: 'as GET, without the body' }, '307': redirect, '404': { description: 'no such key' } } },
      put: {
        summary: 'Write a key',
        parameters: [ifMatch, { name: 'If-None-Match', in: 'header', required: false, description: '* = only if absent', schema: { type: 'string', const: '*' } }, idempotencyKey],
        requestBody: { required: true, description: 'the raw value, any Content-Type', content: { '*/*': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } },
        responses: {
          '200': { description: 'written', content: { 'application/json': { schema: { $ref: '#/components/schemas/PutResult' } } } },
          ...writeErrors,
          '411': errorResponse('neither Content-Length nor a chunked body', 'length_required'),
          '413': errorResponse('value larger than http.value_bytes_max', 'value_too_large'),
          '415': errorResponse('a Content-Encoding other than identity', 'unsupported_media_type'),
        },
      },
      delete: {
        summary: 'Delete a key',
        parameters: [ifMatch, idempotencyKey],
        responses: {
          '200': { description: 'deleted (or already absent)', content: { 'application/json': { schema: { $ref: '#/components/schemas/DeleteResult' } } } },
          ...writeErrors,
        },
      },
      options,
    },
    '/v1/status': fixedRoute('This node\'s Raft status', { description: 'status', content: { 'application/json': { schema: { $ref: '#/components/schemas/Status' } } } }),
    '/healthz': fixedRoute('Liveness', { description: 'the process answers', content: { 'application/json': { schema: { $ref: '#/components/schemas/Health' } } } }),
    '/readyz': fixedRoute('Readiness: a leader is known and what was known committed is applied', { description: 'ready', content: { 'application/json': { schema: { $ref: '#/components/schemas/Health' } } } }, {
      '503': { ...errorResponse('not ready', 'not_ready'), headers: retryAfter },
    }),
    '/metrics': fixedRoute('Prometheus metrics', { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } }),
    '/openapi.json': fixedRoute('This document', { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } }),
  },
  components: {
    schemas: {
      Error: errorSchema,
      PutResult: { type: 'object', required: ['revision'], additionalProperties: false, properties: { revision: { type: 'integer', minimum: 1 } } },
      DeleteResult: {
        type: 'object',
        required: ['deleted', 'revision'],
        additionalProperties: false,
        properties: { deleted: { type: 'boolean' }, revision: { type: 'integer', minimum: 0 } },
      },
      Status: statusSchema,
      Health: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok', 'ready'] } } },
    },
  },
} as const;
