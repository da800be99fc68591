// Bearer tokens with roles, from configuration. A token is compared in constant time through its hash, is
// never logged, and maps to a person: the identity of every start and vote made with it (a body never
// names who is calling).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../../config/schema';

export type Role = 'operator' | 'approver' | 'admin';

export interface Principal {
  /** The token's name (safe to log). */
  token: string;
  person: string;
  roles: Role[];
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export class TokenDirectory {
  private readonly entries: Array<{ hash: Buffer; principal: Principal }>;

  constructor(tokens: Config['api']['tokens']) {
    this.entries = tokens.map((t) => ({ hash: digest(t.token), principal: { token: t.name, person: t.person, roles: t.roles } }));
  }

  /** The principal of an Authorization header, or undefined for a missing or unknown token. */
  authenticate(header: string | undefined): Principal | undefined {
    const m = /^Bearer ([^\s]{1,512})$/.exec(header ?? '');
    if (!m) return undefined;
    const h = digest(m[1]!);
    // Every entry is compared, so the time taken does not tell which token was near.
    let found: Principal | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.hash, h)) found = e.principal;
    return found;
  }
}
