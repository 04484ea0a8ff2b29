/** A token scope: `repository:library/ubuntu:pull,push`, `registry:catalog:*`. */
export interface Scope {
  type: string;
  name: string;
  actions: string[];
}

export function repositoryScope(name: string, ...actions: string[]): Scope {
  return { type: 'repository', name, actions };
}

export const CATALOG_SCOPE: Scope = { type: 'registry', name: 'catalog', actions: ['*'] };

/** Parse `type:name:actions`; the name may itself hold colons (`repository(plugin)` types do). */
export function parseScope(s: string): Scope | undefined {
  const first = s.indexOf(':');
  const last = s.lastIndexOf(':');
  if (first <= 0 || last <= first) return undefined;
  return {
    type: s.slice(0, first),
    name: s.slice(first + 1, last),
    actions: s
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

/** Scopes from a challenge's space-separated `scope` parameter. */
export function parseScopes(s: string | undefined): Scope[] {
  return (s ?? '')
    .split(' ')
    .filter(Boolean)
    .map(parseScope)
    .filter((x): x is Scope => x !== undefined);
}

/**
 * A set of scopes merged per resource: asking for `repo:pull` and `repo:push` yields one
 * `repo:pull,push`, as registries expect one entry per resource in a token request.
 */
export class ScopeSet {
  private readonly map = new Map<string, { type: string; name: string; actions: Set<string> }>();

  constructor(scopes: Iterable<Scope> = []) {
    for (const s of scopes) this.add(s);
  }

  add(scope: Scope): this {
    const key = `${scope.type}:${scope.name}`;
    let entry = this.map.get(key);
    if (!entry) {
      entry = { type: scope.type, name: scope.name, actions: new Set() };
      this.map.set(key, entry);
    }
    for (const a of scope.actions) entry.actions.add(a);
    return this;
  }

  union(other: ScopeSet): ScopeSet {
    return new ScopeSet([...this.scopes(), ...other.scopes()]);
  }

  /** Whether every action of `other` is in this set (`*` covers everything on its resource). */
  covers(other: ScopeSet): boolean {
    for (const [key, want] of other.map) {
      const have = this.map.get(key);
      if (!have) return false;
      if (have.actions.has('*')) continue;
      for (const a of want.actions) if (!have.actions.has(a)) return false;
    }
    return true;
  }

  get size(): number {
    return this.map.size;
  }

  scopes(): Scope[] {
    return [...this.map.values()].map((e) => ({
      type: e.type,
      name: e.name,
      actions: [...e.actions].sort(),
    }));
  }

  /** `type:name:a,b` strings, sorted, for token requests (one `scope` parameter each). */
  toStrings(): string[] {
    return this.scopes()
      .map((s) => `${s.type}:${s.name}:${s.actions.join(',')}`)
      .sort();
  }

  /** Stable cache key. */
  key(): string {
    return this.toStrings().join(' ');
  }
}
