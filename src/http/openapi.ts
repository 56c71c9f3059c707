import { keyBytesMax, leaseTtlSecondsMax, rangeLimitDefault, rangeLimitMax, txnComparesMax, txnOpsMax } from '../kv/limits.js';
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

const consistencyParam = { name: 'consistency', in: 'query', required: false, schema: { type: 'string', enum: ['linearizable', 'lease', 'stale'], default: 'linearizable' } };

const readErrors = {
  ...limitErrors,
  ...authErrors('read'),
  '307': redirect,
  '400': errorResponse('bad query', 'bad_request'),
  '503': unavailable,
  '504': errorResponse('the read could not be confirmed in time', 'outcome_unknown'),
};

const writeErrors = {
  ...limitErrors,
  ...authErrors('write'),
  '307': redirect,
  '400': errorResponse('bad key, query, precondition or Idempotency-Key', 'bad_key', 'bad_request', 'bad_precondition'),
  '405': methodNotAllowed,
  '412': errorResponse('precondition failed', 'revision_mismatch'),
  '422': errorResponse('the Idempotency-Key was first used for a request of another kind; nothing was applied', 'idempotency_key_reused'),
  '503': unavailable,
  '504': errorResponse('the write may or may not have been applied', 'outcome_unknown'),
};

const memberIdParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' } };
/** What every membership change can get besides its own refusals. */
const memberChangeErrors = {
  ...limitErrors,
  ...authErrors('admin'),
  '307': redirect,
  '400': errorResponse('bad body or id', 'bad_request'),
  '405': methodNotAllowed,
  '503': unavailable,
  '504': errorResponse('the change may or may not have been applied: list the members to see', 'outcome_unknown'),
};
const memberSchema = {
  type: 'object',
  required: ['id', 'role', 'raft_addr', 'http_addr', 'grpc_addr'],
  additionalProperties: false,
  properties: { id: { type: 'string' }, role: { type: 'string', enum: ['voter', 'learner'] }, raft_addr: { type: 'string' }, http_addr: { type: 'string' }, grpc_addr: { type: 'string' } },
} as const;
const membersProperties = {
  leader_id: { type: ['string', 'null'] },
  config_index: { type: 'integer', minimum: 0, description: 'the log index of the configuration entry in effect (0: the bootstrap configuration)' },
  committed: { type: 'boolean', description: 'false while a change is in flight' },
  members: { type: 'array', items: { $ref: '#/components/schemas/Member' } },
} as const;

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
    membership: { type: 'string', enum: ['voter', 'learner', 'removed', 'joining'], description: "this node in its own configuration: joining = started with raft.join and not caught up yet; removed = not a member (it takes no part in elections)" },
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
        summary: 'Read a key, or with ?list list the keys under a prefix',
        description:
          'Without `list`: the raw value of the key. With `list`: the keys that start with the path (as bytes; `/v1/kv/?list` lists every key), ' +
          'in byte order, a page at a time, each page one consistent read at the `revision` it answers. Keys are percent-encoded as in a path, values base64.',
        parameters: [
          consistencyParam,
          { name: 'list', in: 'query', required: false, description: 'list the keys under the prefix instead of reading one key', schema: { type: 'string', enum: ['', 'true'] }, allowEmptyValue: true },
          { name: 'limit', in: 'query', required: false, description: `with list: keys per page (1 to ${rangeLimitMax})`, schema: { type: 'integer', minimum: 1, maximum: rangeLimitMax, default: rangeLimitDefault } },
          { name: 'page_token', in: 'query', required: false, description: 'with list: next_page_token of the previous page', schema: { type: 'string' } },
          { name: 'keys_only', in: 'query', required: false, description: 'with list: leave the values out', schema: { type: 'string', enum: ['', 'true'] }, allowEmptyValue: true },
        ],
        responses: {
          '200': {
            description: 'the raw value (or, with list, a page of keys)',
            headers: { ETag: { description: 'the revision, "R" (not with list)', schema: { type: 'string' } } },
            content: {
              'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } },
              'application/json': { schema: { $ref: '#/components/schemas/ListResult' } },
            },
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
        parameters: [
          ifMatch,
          { name: 'If-None-Match', in: 'header', required: false, description: '* = only if absent', schema: { type: 'string', const: '*' } },
          idempotencyKey,
          { name: 'lease', in: 'query', required: false, description: 'attach the key to this lease: it is deleted when the lease ends', schema: { type: 'integer', minimum: 1 } },
        ],
        requestBody: { required: true, description: 'the raw value, any Content-Type', content: { '*/*': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } } },
        responses: {
          '200': { description: 'written', content: { 'application/json': { schema: { $ref: '#/components/schemas/PutResult' } } } },
          ...writeErrors,
          '404': errorResponse('the lease does not exist; nothing was written', 'lease_not_found'),
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
    '/v1/txn': {
      post: {
        summary: "A transaction (etcd's Txn): if every comparison holds run success, else failure, as one atomic write at one revision",
        parameters: [idempotencyKey],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Txn' } } } },
        responses: {
          '200': { description: 'applied', content: { 'application/json': { schema: { $ref: '#/components/schemas/TxnResult' } } } },
          ...writeErrors,
          '400': errorResponse('malformed transaction: bad JSON, a bad field, a key written twice in a branch, too many comparisons or operations', 'bad_key', 'bad_request'),
          '404': errorResponse('a put names a lease that does not exist; nothing was applied', 'lease_not_found'),
          '413': errorResponse("the values are larger than http.value_bytes_max together, or the gets would return more than the transaction's read bound", 'value_too_large', 'txn_reads_too_large'),
          '415': errorResponse('a Content-Type other than application/json', 'unsupported_media_type'),
        },
      },
      options,
    },
    '/v1/leases': {
      get: {
        summary: 'Every lease',
        parameters: [consistencyParam],
        responses: { '200': { description: 'the leases, by id', content: { 'application/json': { schema: { $ref: '#/components/schemas/LeaseList' } } } }, ...readErrors, '405': methodNotAllowed },
      },
      head: { summary: 'Every lease (headers only)', responses: { '200': { description: 'as GET, without the body' }, ...limitErrors, ...authErrors('read') } },
      post: {
        summary: 'Grant a lease; keys put with ?lease=ID are deleted when it ends',
        description: 'A TTL below 1.5 election timeouts is raised to that; the answer gives the TTL granted. The id is the log index of the grant.',
        parameters: [idempotencyKey],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/LeaseGrant' } } } },
        responses: {
          '200': { description: 'granted', content: { 'application/json': { schema: { $ref: '#/components/schemas/Lease' } } } },
          ...writeErrors,
          '413': errorResponse('the body is larger than a grant can be', 'value_too_large'),
          '429': { ...errorResponse('too many leases, or http.requests_max requests in progress; not applied', 'too_many_leases', 'too_many_requests'), headers: retryAfter },
        },
      },
      options,
    },
    '/v1/leases/{id}': {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } }],
      get: {
        summary: 'A lease and the keys attached to it',
        parameters: [consistencyParam],
        responses: {
          '200': { description: 'the lease', content: { 'application/json': { schema: { $ref: '#/components/schemas/LeaseInfo' } } } },
          ...readErrors,
          '404': errorResponse('no such lease', 'lease_not_found'),
          '405': methodNotAllowed,
        },
      },
      head: { summary: 'A lease (headers only)', responses: { '200': { description: 'as GET, without the body' }, '404': { description: 'no such lease' }, ...limitErrors, ...authErrors('read') } },
      delete: {
        summary: 'Revoke a lease: every key attached to it is deleted, at one revision',
        parameters: [idempotencyKey],
        responses: {
          '200': { description: 'revoked', content: { 'application/json': { schema: { $ref: '#/components/schemas/LeaseRevoked' } } } },
          ...writeErrors,
          '404': errorResponse('no such lease', 'lease_not_found'),
        },
      },
      options,
    },
    '/v1/leases/{id}/keepalive': {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } }],
      post: {
        summary: "Keep a lease alive: it lives its full TTL from now on the leader's clock",
        responses: {
          '200': { description: 'kept alive', content: { 'application/json': { schema: { $ref: '#/components/schemas/Lease' } } } },
          ...limitErrors,
          ...authErrors('write'),
          '307': redirect,
          '400': errorResponse('bad lease id', 'bad_request'),
          '404': errorResponse('the lease expired, was revoked, or its expiry is under way', 'lease_not_found'),
          '405': methodNotAllowed,
          '503': unavailable,
          '504': errorResponse('the leader could not be confirmed in time', 'outcome_unknown'),
        },
      },
      options,
    },
    '/v1/watch/{key}': {
      parameters: [{ ...keyParam, description: 'the key, or with ?prefix the prefix (may be empty: every key)' }],
      get: {
        summary: 'Watch a key or a prefix: Server-Sent Events from a revision on, or with ?index a blocking query',
        description:
          'Served by any node from its own applied state. SSE: one `change` event per revision that changed a watched key, `id` = the revision, in order, ' +
          'exactly once; reconnect with Last-Event-ID to go on after it (any node). The stream ends with an `error` event (compacted, watch_too_slow, node_stopping).',
        parameters: [
          { name: 'prefix', in: 'query', required: false, description: 'watch every key under the prefix', schema: { type: 'string', enum: ['', 'true'] }, allowEmptyValue: true },
          { name: 'from_revision', in: 'query', required: false, description: 'the first revision to send (default: the next one applied here)', schema: { type: 'integer', minimum: 0 } },
          { name: 'Last-Event-ID', in: 'header', required: false, description: 'resume after this revision (wins over from_revision)', schema: { type: 'string' } },
          { name: 'index', in: 'query', required: false, description: 'a blocking query: answer once a watched key changes after this revision', schema: { type: 'integer', minimum: 0 } },
          { name: 'wait', in: 'query', required: false, description: 'with index: the longest wait (10s, 5m, 250ms; at most 10m, default 5m)', schema: { type: 'string' } },
        ],
        responses: {
          '200': {
            description: 'SSE (text/event-stream), or the blocking query\'s answer',
            headers: { 'X-Kvstore-Index': { description: 'with index: where the next query goes on from', schema: { type: 'string' } } },
            content: {
              'text/event-stream': { schema: { type: 'string', description: 'event: change, data: WatchEvent as JSON; event: error, data: {error, message, oldest_revision}' } },
              'application/json': { schema: { $ref: '#/components/schemas/BlockingResult' } },
            },
          },
          ...limitErrors,
          ...authErrors('read'),
          '400': errorResponse('bad key or query', 'bad_key', 'bad_request'),
          '405': methodNotAllowed,
          '410': { ...errorResponse('the change window no longer holds the start', 'compacted', 'watch_too_slow'), headers: { 'X-Kvstore-Oldest-Revision': { description: 'the oldest revision a watch can start from', schema: { type: 'string' } } } },
          '429': { ...errorResponse('too many watches on this node, or too many requests', 'too_many_watchers', 'too_many_requests'), headers: retryAfter },
          '503': errorResponse('this node is stopping', 'node_stopping'),
        },
      },
      options,
    },
    '/v1/snapshot': {
      get: {
        summary: 'A backup: the state at a linearizable read, streamed with its SHA-256 (role admin)',
        description: 'The body is the backup file that `kvstore snapshot save` writes and `kvstore snapshot restore` builds a data directory from.',
        responses: {
          '200': {
            description: 'the backup file: "KVBK", version, index, the state machine snapshot, SHA-256',
            headers: { 'X-Kvstore-Snapshot-Index': { description: 'the applied index the state is at', schema: { type: 'string' } } },
            content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } },
          },
          ...limitErrors,
          ...authErrors('admin'),
          '307': redirect,
          '405': methodNotAllowed,
          '503': unavailable,
          '504': errorResponse('the read could not be confirmed in time', 'outcome_unknown'),
        },
      },
      options,
    },
    '/v1/members': {
      get: {
        summary: "The configuration: every member, its role and addresses (the leader's; ?consistency=stale: this node's)",
        parameters: [consistencyParam],
        responses: { '200': { description: 'the configuration in effect', content: { 'application/json': { schema: { $ref: '#/components/schemas/Members' } } } }, ...readErrors, '405': methodNotAllowed },
      },
      head: { summary: 'The configuration (headers only)', responses: { '200': { description: 'as GET, without the body' }, ...limitErrors, ...authErrors('read') } },
      post: {
        summary: 'Add a member: a voter, or a learner that receives the log without voting (role admin)',
        description: 'One change at a time: answered once the new configuration entry is committed.',
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/MemberAdd' } } } },
        responses: { '200': { description: 'added', content: { 'application/json': { schema: { $ref: '#/components/schemas/MemberChange' } } } }, ...memberChangeErrors, '409': errorResponse('a change is in flight, or the id is taken', 'change_in_flight', 'member_exists'), '413': errorResponse('the body is larger than a member can be', 'value_too_large') },
      },
      options,
    },
    '/v1/members/{id}': {
      parameters: [memberIdParam],
      delete: {
        summary: 'Remove a member (role admin); a removed leader hands over first',
        responses: {
          '200': { description: 'removed', content: { 'application/json': { schema: { $ref: '#/components/schemas/MemberChange' } } } },
          ...memberChangeErrors,
          '400': errorResponse('bad id, or the last voter', 'bad_request', 'last_voter'),
          '404': errorResponse('no such member', 'member_not_found'),
          '409': errorResponse('a change is in flight', 'change_in_flight'),
        },
      },
      options,
    },
    '/v1/members/{id}/promote': {
      parameters: [memberIdParam],
      post: {
        summary: 'Make a learner that has caught up a voter (role admin)',
        responses: {
          '200': { description: 'promoted', content: { 'application/json': { schema: { $ref: '#/components/schemas/MemberChange' } } } },
          ...memberChangeErrors,
          '404': errorResponse('no such member', 'member_not_found'),
          '409': errorResponse('a change is in flight, the member votes already, or it has not caught up', 'change_in_flight', 'not_learner', 'learner_behind'),
        },
      },
      options,
    },
    '/v1/leader/transfer': {
      post: {
        summary: 'Hand leadership to a voter, or to the most up-to-date one (role admin)',
        description: 'The leader stops taking writes for at most an election timeout, brings the target up to date and tells it to campaign at once; answered once it leads.',
        requestBody: { required: false, content: { 'application/json': { schema: { $ref: '#/components/schemas/LeaderTransfer' } } } },
        responses: {
          '200': { description: 'the target leads', content: { 'application/json': { schema: { $ref: '#/components/schemas/LeaderTransferred' } } } },
          ...limitErrors,
          ...authErrors('admin'),
          '307': redirect,
          '400': errorResponse('bad body, or the target is a learner', 'bad_request', 'not_voter'),
          '404': errorResponse('no such member', 'member_not_found'),
          '405': methodNotAllowed,
          '413': errorResponse('the body is larger than a request can be', 'value_too_large'),
          '503': { ...errorResponse('no leader, this node is stopping, or the target did not take over within an election timeout', 'no_leader', 'node_stopping', 'transfer_timed_out'), headers: retryAfter },
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
    '/ui': fixedRoute('The cluster page (role read, or open with auth.metrics_public; absent with http.ui: false)', { description: 'the page', content: { 'text/html': { schema: { type: 'string' } } } }, 'read', {
      '404': errorResponse('the page is off (http.ui: false)', 'not_found'),
    }),
    '/ui/assets/{file}': {
      ...fixedRoute('A file of the cluster page: app.js, app.css, machine.json (the role machine graph, from its definition)', { description: 'the file', content: { '*/*': { schema: { type: 'string' } } } }, 'read', {
        '404': errorResponse('no such file, or the page is off', 'not_found'),
      }),
      parameters: [{ name: 'file', in: 'path', required: true, schema: { type: 'string' } }],
    },
    '/ui/members/{id}/{path}': {
      parameters: [
        { name: 'id', in: 'path', required: true, description: 'a member id of this node\'s config, or self', schema: { type: 'string' } },
        { name: 'path', in: 'path', required: true, description: 'v1/events, v1/status or v1/kv/{key}', schema: { type: 'string' } },
      ],
      get: {
        summary: "The cluster page's way to the other members: the request forwarded to the member's REST API, its answer passed back (a 307 to the leader rewritten to this proxy)",
        responses: {
          '200': { description: "the member's answer", content: { '*/*': { schema: { type: 'string' } } } },
          '307': redirect,
          '404': errorResponse('no such member, a path the page does not use, or the page is off', 'not_found', 'key_not_found'),
          '502': errorResponse('the member did not answer', 'member_unreachable'),
          ...limitErrors,
          ...authErrors('read'),
        },
      },
      put: {
        summary: 'A PUT of the key browser, forwarded (role write)',
        responses: { '200': { description: "the member's answer", content: { 'application/json': { schema: { type: 'object' } } } }, '307': redirect, '502': errorResponse('the member did not answer', 'member_unreachable'), ...limitErrors, ...authErrors('write') },
      },
      delete: {
        summary: 'A DELETE of the key browser, forwarded (role write)',
        responses: { '200': { description: "the member's answer", content: { 'application/json': { schema: { type: 'object' } } } }, '307': redirect, '502': errorResponse('the member did not answer', 'member_unreachable'), ...limitErrors, ...authErrors('write') },
      },
      options,
    },
    '/v1/events': {
      get: {
        summary: "This node's live events, as Server-Sent Events (role read, or open with auth.metrics_public)",
        description:
          'Events: hello {status, transitions, reset} first, then transition {from, to, term, input, event, at_ms} and status (the Status fields plus requests_total, connected_peers, match_index) when it changed. Ids are <boot>.<n>; send Last-Event-ID to resume after the last one seen.',
        parameters: [{ name: 'Last-Event-ID', in: 'header', required: false, description: 'resume after this event (a fresh hello with reset: true if it is no longer kept)', schema: { type: 'string' } }],
        responses: {
          '200': { description: 'the event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          '405': methodNotAllowed,
          ...limitErrors,
          ...authErrors('read'),
        },
      },
      options,
    },
    '/v1/debug/recording': {
      get: {
        summary: "The flight recorder's ring: the Raft core's recent inputs and the checkpoint they start from (role admin); npm run sim:replay replays it",
        responses: {
          '200': { description: 'the recording (format kvstore-flight-recording, version 1)', content: { 'application/json': { schema: { type: 'object', required: ['format', 'version', 'node', 'start', 'items'] } } } },
          '404': errorResponse('the flight recorder is off (debug.recorder: false)', 'not_found'),
          '405': methodNotAllowed,
          ...limitErrors,
          ...authErrors('admin'),
        },
      },
      options,
    },
  },
  // Authentication is on when auth.tokens lists any token; then every route not marked open needs a bearer token.
  security: [{}, { bearerAuth: [] }],
  components: {
    securitySchemes: {
      bearerAuth: { type: 'http', scheme: 'bearer', description: 'a token listed (by its SHA-256) in auth.tokens, with role read, write or admin' },
    },
    schemas: {
      Error: errorSchema,
      Member: memberSchema,
      Members: { type: 'object', required: ['leader_id', 'config_index', 'committed', 'members'], additionalProperties: false, properties: membersProperties },
      MemberChange: {
        type: 'object',
        required: ['index', 'leader_id', 'config_index', 'committed', 'members'],
        additionalProperties: false,
        properties: { index: { type: 'integer', minimum: 1, description: 'the log index of the committed configuration entry' }, ...membersProperties },
      },
      MemberAdd: {
        type: 'object',
        required: ['id', 'raft_addr', 'http_addr', 'grpc_addr'],
        additionalProperties: false,
        properties: {
          id: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
          raft_addr: { type: 'string', description: 'host:port' },
          http_addr: { type: 'string', description: 'host:port' },
          grpc_addr: { type: 'string', description: 'host:port' },
          learner: { type: 'boolean', default: false, description: 'receives the log but does not vote until promoted' },
        },
      },
      LeaderTransfer: { type: 'object', additionalProperties: false, properties: { to: { type: ['string', 'null'], description: 'the voter to hand over to; absent: the most up-to-date one' } } },
      LeaderTransferred: { type: 'object', required: ['leader_id', 'term'], additionalProperties: false, properties: { leader_id: { type: 'string' }, term: { type: 'integer', minimum: 1 } } },
      PutResult: { type: 'object', required: ['revision'], additionalProperties: false, properties: { revision: { type: 'integer', minimum: 1 } } },
      DeleteResult: {
        type: 'object',
        required: ['deleted', 'revision'],
        additionalProperties: false,
        properties: { deleted: { type: 'boolean' }, revision: { type: 'integer', minimum: 0 } },
      },
      ListResult: {
        type: 'object',
        required: ['revision', 'entries', 'next_page_token'],
        additionalProperties: false,
        properties: {
          revision: { type: 'integer', minimum: 0, description: 'the applied index the page was read at: watch from revision + 1 to follow on' },
          entries: {
            type: 'array',
            items: {
              type: 'object',
              required: ['key', 'revision', 'lease'],
              additionalProperties: false,
              properties: {
                key: { type: 'string', description: 'percent-encoded as in a path' },
                value: { type: 'string', contentEncoding: 'base64', description: 'absent with keys_only' },
                revision: { type: 'integer', minimum: 1 },
                lease: { type: 'integer', minimum: 0, description: '0: none' },
              },
            },
          },
          next_page_token: { type: ['string', 'null'], description: 'null on the last page' },
        },
      },
      Txn: {
        type: 'object',
        additionalProperties: false,
        properties: {
          compare: { type: 'array', maxItems: txnComparesMax, items: { $ref: '#/components/schemas/TxnCompare' } },
          success: { type: 'array', maxItems: txnOpsMax, items: { $ref: '#/components/schemas/TxnOp' } },
          failure: { type: 'array', maxItems: txnOpsMax, items: { $ref: '#/components/schemas/TxnOp' } },
        },
      },
      TxnCompare: {
        type: 'object',
        required: ['key', 'target'],
        additionalProperties: false,
        description: 'an absent key has revision 0; a comparison of the value of an absent key is false',
        properties: {
          key: { type: 'string' },
          target: { type: 'string', enum: ['revision', 'value'] },
          operator: { type: 'string', enum: ['equal', 'not_equal', 'less', 'greater'], default: 'equal' },
          revision: { type: 'integer', minimum: 0 },
          value: { type: 'string', contentEncoding: 'base64' },
        },
      },
      TxnOp: {
        type: 'object',
        required: ['op', 'key'],
        additionalProperties: false,
        description: 'run in order, each seeing the writes before it; a key is written at most once per branch',
        properties: {
          op: { type: 'string', enum: ['put', 'delete', 'get'] },
          key: { type: 'string' },
          value: { type: 'string', contentEncoding: 'base64' },
          lease: { type: 'integer', minimum: 0 },
        },
      },
      TxnResult: {
        type: 'object',
        required: ['succeeded', 'revision', 'results'],
        additionalProperties: false,
        properties: {
          succeeded: { type: 'boolean', description: 'whether the comparisons held (success ran) or not (failure ran)' },
          revision: { type: 'integer', minimum: 1, description: 'the revision of every write of the transaction' },
          results: {
            type: 'array',
            items: {
              type: 'object',
              required: ['op'],
              additionalProperties: false,
              properties: { op: { type: 'string', enum: ['put', 'delete', 'get'] }, deleted: { type: 'boolean' }, found: { type: 'boolean' }, value: { type: 'string', contentEncoding: 'base64' }, revision: { type: 'integer', minimum: 1 } },
            },
          },
        },
      },
      LeaseGrant: { type: 'object', required: ['ttl'], additionalProperties: false, properties: { ttl: { type: 'integer', minimum: 1, maximum: leaseTtlSecondsMax, description: 'seconds' } } },
      Lease: { type: 'object', required: ['id', 'ttl'], additionalProperties: false, properties: { id: { type: 'integer', minimum: 1 }, ttl: { type: 'integer', minimum: 1 } } },
      LeaseList: {
        type: 'object',
        required: ['revision', 'leases'],
        additionalProperties: false,
        properties: { revision: { type: 'integer', minimum: 0 }, leases: { type: 'array', items: { $ref: '#/components/schemas/Lease' } } },
      },
      LeaseInfo: {
        type: 'object',
        required: ['id', 'ttl', 'remaining_ms', 'keys'],
        additionalProperties: false,
        properties: {
          id: { type: 'integer', minimum: 1 },
          ttl: { type: 'integer', minimum: 1 },
          remaining_ms: { type: ['integer', 'null'], minimum: 0, description: "milliseconds left on the leader's clock; null from a stale read" },
          keys: { type: 'array', items: { type: 'string' } },
        },
      },
      WatchEvent: {
        type: 'object',
        required: ['revision', 'events'],
        additionalProperties: false,
        description: "one revision's changes to the watched keys (the data of an SSE change event; its id is the revision)",
        properties: {
          revision: { type: 'integer', minimum: 1 },
          events: {
            type: 'array',
            items: {
              type: 'object',
              required: ['type', 'key', 'revision'],
              additionalProperties: false,
              properties: { type: { type: 'string', enum: ['put', 'delete'] }, key: { type: 'string' }, value: { type: 'string', contentEncoding: 'base64' }, revision: { type: 'integer', minimum: 1 }, lease: { type: 'integer', minimum: 0 } },
            },
          },
        },
      },
      BlockingResult: {
        type: 'object',
        required: ['index', 'events'],
        additionalProperties: false,
        properties: { index: { type: 'integer', minimum: 0, description: 'pass it as ?index= to wait for what comes next' }, events: { type: 'array', items: { $ref: '#/components/schemas/WatchEvent' } } },
      },
      LeaseRevoked: { type: 'object', required: ['revoked', 'revision'], additionalProperties: false, properties: { revoked: { type: 'boolean', const: true }, revision: { type: 'integer', minimum: 1 } } },
      Status: statusSchema,
      Health: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok', 'ready'] } } },
    },
  },
} as const;
