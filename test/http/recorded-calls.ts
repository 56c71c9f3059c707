// REST calls that record every answer, so a suite can check them all against the
// OpenAPI document at its end; and the check of a catalog error answer.
import assert from 'node:assert/strict';
import { errorCatalog } from '../../src/errors.js';
import type { Observed } from './openapi-check.js';

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
  text(): string;
  json(): Record<string, unknown>;
}

/** Every answer `call` got, for checkAgainstOpenApi. */
export const observed: Observed[] = [];

/** One request, no redirect followed; the response is recorded for the OpenAPI check. */
export async function call(url: string, init: RequestInit & { duplex?: 'half' } = {}): Promise<Answer> {
  const r = await fetch(url, { redirect: 'manual', ...init });
  const body = Buffer.from(await r.arrayBuffer());
  const u = new URL(url);
  observed.push({ path: u.pathname, method: init.method ?? 'GET', status: r.status, contentType: r.headers.get('content-type') ?? '', body: body.toString() });
  return { status: r.status, headers: r.headers, body, text: () => body.toString(), json: () => JSON.parse(body.toString()) as Record<string, unknown> };
}

/** Asserts the catalog's error JSON with the catalog's status (and a message matching `message`). */
export function assertError(a: Answer, code: keyof typeof errorCatalog, message?: RegExp): void {
  assert.equal(a.status, errorCatalog[code].http, `expected ${code}, got ${a.status} ${a.text()}`);
  const j = a.json();
  assert.equal(j['error'], code, a.text());
  assert.equal(typeof j['message'], 'string');
  assert.deepEqual(Object.keys(j).sort(), ['error', 'message']);
  assert.match(a.headers.get('content-type') ?? '', /^application\/json/);
  if (message !== undefined) assert.match(String(j['message']), message);
}
