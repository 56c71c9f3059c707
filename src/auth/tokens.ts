// Bearer tokens with roles (README "Security"). The config lists tokens by their
// SHA-256 only, never in plain: a leaked config file gives no access. Tokens are
// random (kvstore auth new-token makes one), so a fast hash is enough: there is
// no dictionary to try.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type Role = 'read' | 'write' | 'admin';
export const roles: readonly Role[] = ['read', 'write', 'admin'];

/** One configured token: who it is for (in logs), what it may do, and its hash. */
export interface TokenConfig {
  readonly name: string;
  readonly role: Role;
  /** Lowercase hex SHA-256 of the token's UTF-8 bytes. */
  readonly sha256: string;
}

export interface Identity {
  readonly name: string;
  readonly role: Role;
}

/** Bytes of randomness in a token made by newToken(). */
const TOKEN_BYTES = 32;

export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/** Each role can do what the ones before it can: read < write < admin. */
export function grants(have: Role, need: Role): boolean {
  return roles.indexOf(have) >= roles.indexOf(need);
}

/** What an Authorization header (or gRPC `authorization` metadata) holds. */
export type Presented = { readonly kind: 'none' } | { readonly kind: 'malformed' } | { readonly kind: 'bearer'; readonly token: string };

export function presentedToken(header: string | undefined): Presented {
  if (header === undefined || header === '') return { kind: 'none' };
  const m = /^Bearer +([\x21-\x7e]{1,512})\s*$/i.exec(header);
  return m === null ? { kind: 'malformed' } : { kind: 'bearer', token: m[1]! };
}

/** The configured tokens; authentication is on when there is at least one. */
export class TokenAuthority {
  private readonly hashes: readonly { readonly hash: Buffer; readonly identity: Identity }[];

  constructor(tokens: readonly TokenConfig[]) {
    this.hashes = tokens.map((t) => ({ hash: Buffer.from(t.sha256, 'hex'), identity: { name: t.name, role: t.role } }));
  }

  get enabled(): boolean {
    return this.hashes.length > 0;
  }

  /** Who holds `token`, or null. Every configured hash is compared in constant time, so timing says nothing of which one is near. */
  identify(token: string): Identity | null {
    const hash = createHash('sha256').update(token, 'utf8').digest();
    let found: Identity | null = null;
    for (const h of this.hashes) if (timingSafeEqual(h.hash, hash) && found === null) found = h.identity;
    return found;
  }
}
