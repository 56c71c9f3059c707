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
const unavailable = { ...errorResponse('no leader known, overloaded, or this node is stopping; not applied, retry after Retry-After', 'no_leader', 'overloaded', 'node_stopping'), headers: retryAfter };
const wwwAuthenticate = { 'WWW-Authenticate': { description: 'Bearer realm="kvstore" (with error="invalid_request" or "invalid_token" when a token was sent)', schema: { type: 'string' } } };
/** What any request can get from the listener's limits (README "Security"). */
const limitErrors = {
  '408': errorResponse('the request did not arrive in full within http.body_timeout_ms (or its head within http.header_timeout_ms); not applied', 'request_timeout'),
  '429': { ...errorResponse('http.requests_max requests in progress; not applied, retry after Retry-After', 'too_many_requests'), headers: retryAfter },
  '431': errorResponse('the request head is larger than 16 KiB', 'headers_too_large'),
};
/** What a route that needs a role can get when authentication is on (auth.tokens). */
const authErrors = (role: string): Record<string, object> => ({
  '401': { ...errorResponse(`no bearer token, a malformed one or an unknown one (this route needs role ${role})`, 'unauthenticated'), headers: wwwAuthenticate },
  '403': errorResponse(`the token's role is below ${role}`, 'permission_denied'),
});
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
  ...limitErrors,
  ...authErrors('write'),
  '307': redirect,
  '400': errorResponse('bad key, query, precondition or Idempotency-Key', 'bad_key', 'bad_request', 'bad_precondition'),
  '405': methodNotAllowed,
  '412': errorResponse('precondition failed', 'revision_mismatch'),
  '503': unavailable,
  '504': errorResponse('the write may or may not have been applied', 'outcome_unknown'),
};

/** A GET/HEAD route; `role` null means open even when authentication is on. */
const fixedRoute = (summary: string, ok: object, role: string | null, extra: Record<string, object> = {}): object => {
  const errors = { ...limitErrors, ...(role === null ? {} : authErrors(role)), ...extra };
  const security = role === null ? { security: [] } : {};
  return {
    get: { summary, ...security, responses: { '200': ok, '405': methodNotAllowed, ...errors } },
    head: { summary: `${summary} (headers only)`, ...security, responses: { '200': { description: 'as GET, without the body' }, ...errors } },
    options,
  };
};

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
          ...limitErrors,
          ...authErrors('read'),
          '307': redirect,
          '400': errorResponse('bad key or query', 'bad_key', 'bad_request'),
          '404': errorResponse('no such key', 'key_not_found'),
          '405': methodNotAllowed,
          '503': unavailable,
          '504': errorResponse('the read could not be confirmed in time', 'outcome_unknown'),
        },
      },
      head: { summary: 'Read a key (headers only)', responses: { '200': { description: 'as GET, without the body' }, '307': redirect, '404': { description: 'no such key' }, ...limitErrors, ...authErrors('read') } },
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
    '/v1/status': fixedRoute('This node\'s Raft status', { description: 'status', content: { 'application/json': { schema: { $ref: '#/components/schemas/Status' } } } }, 'read'),
    '/healthz': fixedRoute('Liveness (open: needs no token)', { description: 'the process answers', content: { 'application/json': { schema: { $ref: '#/components/schemas/Health' } } } }, null),
    '/readyz': fixedRoute('Readiness: a leader is known and what was known committed is applied (open)', { description: 'ready', content: { 'application/json': { schema: { $ref: '#/components/schemas/Health' } } } }, null, {
      '503': { ...errorResponse('not ready', 'not_ready'), headers: retryAfter },
    }),
    '/metrics': fixedRoute('Prometheus metrics (role read, or open with auth.metrics_public)', { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } }, 'read'),
    '/openapi.json': fixedRoute('This document (open)', { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } }, null),
  },
  // Authentication is on when auth.tokens lists any token; then every route not marked open needs a bearer token.
  security: [{}, { bearerAuth: [] }],
  components: {
    securitySchemes: {
      bearerAuth: { type: 'http', scheme: 'bearer', description: 'a token listed (by its SHA-256) in auth.tokens, with role read, write or admin' },
    },
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
