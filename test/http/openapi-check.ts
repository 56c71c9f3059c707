import Ajv2020 from 'ajv/dist/2020.js';
import { openApiDocument } from '../../src/http/openapi.js';

/** One real response, as the conformance tests saw it. */
export interface Observed {
  readonly path: string;
  readonly method: string;
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

interface MediaType {
  readonly schema?: { readonly $ref?: string } & Record<string, unknown>;
}
interface Operation {
  readonly responses: Readonly<Record<string, { readonly content?: Readonly<Record<string, MediaType>> }>>;
}

const REF_PREFIX = '#/components/schemas/';

/** The path template of the document that a concrete path falls under, or null. */
export function templateOf(path: string): string | null {
  if (path.startsWith('/v1/kv/')) return '/v1/kv/{key}';
  if (/^\/v1\/leases\/[^/]+$/.test(path)) return '/v1/leases/{id}';
  if (/^\/v1\/leases\/[^/]+\/keepalive$/.test(path)) return '/v1/leases/{id}/keepalive';
  if (path.startsWith('/v1/watch/')) return '/v1/watch/{key}';
  if (/^\/v1\/members\/[^/]+$/.test(path)) return '/v1/members/{id}';
  if (/^\/v1\/members\/[^/]+\/promote$/.test(path)) return '/v1/members/{id}/promote';
  return Object.hasOwn(openApiDocument.paths, path) ? path : null;
}

/**
 * Checks real responses against the OpenAPI document: the status is documented for
 * the route and method, and a JSON body matches its schema. Returns the problems.
 */
export function checkAgainstOpenApi(observed: readonly Observed[]): string[] {
  const ajv = new Ajv2020.default({ strict: false, allErrors: true });
  ajv.addSchema(openApiDocument, 'openapi.json');
  const problems: string[] = [];
  for (const o of observed) {
    const what = `${o.method} ${o.path.slice(0, 60)} → ${o.status}`;
    const template = templateOf(o.path);
    if (template === null) {
      // Unknown routes are not in the document; they must still be the error JSON.
      if (o.status !== 404) problems.push(`${what}: an unknown route must answer 404`);
      const validate = ajv.getSchema('openapi.json#/components/schemas/Error')!;
      if (!validate(JSON.parse(o.body))) problems.push(`${what}: ${ajv.errorsText(validate.errors)}`);
      continue;
    }
    const item = (openApiDocument.paths as unknown as Record<string, Record<string, Operation | undefined>>)[template]!;
    const op = item[o.method.toLowerCase()];
    if (op === undefined) {
      if (o.status !== 405) problems.push(`${what}: method not documented, so it must answer 405`);
      continue;
    }
    const response = op.responses[String(o.status)];
    if (response === undefined) {
      problems.push(`${what}: status not documented for ${o.method} ${template}`);
      continue;
    }
    if (o.method === 'HEAD' || o.status === 204) continue;
    const mediaType = o.contentType.split(';')[0]!.trim();
    const media = response.content?.[mediaType] ?? response.content?.['*/*'];
    if (media === undefined) {
      problems.push(`${what}: content type ${mediaType} not documented`);
      continue;
    }
    if (mediaType !== 'application/json' || media.schema === undefined) continue;
    const ref = media.schema.$ref;
    const validate = ref !== undefined && ref.startsWith(REF_PREFIX) ? ajv.getSchema(`openapi.json${ref}`)! : ajv.compile(media.schema);
    if (!validate(JSON.parse(o.body))) problems.push(`${what}: ${ajv.errorsText(validate.errors)} in ${o.body.slice(0, 200)}`);
  }
  return problems;
}
