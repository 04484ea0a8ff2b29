import { describe, expect, test } from 'vitest';
import { CATALOG_SCOPE, parseScope, parseScopes, repositoryScope, ScopeSet } from './scope.js';

describe('scopes', () => {
  test('actions merge per resource, sorted; resources sort too', () => {
    const s = new ScopeSet([
      repositoryScope('b/dst', 'push'),
      repositoryScope('a/src', 'pull'),
      repositoryScope('b/dst', 'pull', 'push'),
    ]);
    expect(s.toStrings()).toEqual(['repository:a/src:pull', 'repository:b/dst:pull,push']);
    expect(s.key()).toBe('repository:a/src:pull repository:b/dst:pull,push');
  });

  test('covers: subsets of actions and resources; * covers all', () => {
    const push = new ScopeSet([repositoryScope('x', 'pull', 'push')]);
    expect(push.covers(new ScopeSet([repositoryScope('x', 'pull')]))).toBe(true);
    expect(new ScopeSet([repositoryScope('x', 'pull')]).covers(push)).toBe(false);
    expect(push.covers(new ScopeSet([repositoryScope('y', 'pull')]))).toBe(false);
    expect(
      new ScopeSet([CATALOG_SCOPE]).covers(
        new ScopeSet([{ type: 'registry', name: 'catalog', actions: ['x'] }]),
      ),
    ).toBe(true);
    expect(push.covers(new ScopeSet())).toBe(true);
  });

  test('parse: names may hold colons, bad input is skipped', () => {
    expect(parseScope('repository:host:5000/x:pull,push')).toEqual({
      type: 'repository',
      name: 'host:5000/x',
      actions: ['pull', 'push'],
    });
    expect(parseScope('nonsense')).toBeUndefined();
    expect(parseScopes('repository:a:pull  registry:catalog:* bad')).toEqual([
      { type: 'repository', name: 'a', actions: ['pull'] },
      CATALOG_SCOPE,
    ]);
  });

  test('union does not change its operands', () => {
    const a = new ScopeSet([repositoryScope('a', 'pull')]);
    const u = a.union(new ScopeSet([repositoryScope('a', 'push')]));
    expect(a.toStrings()).toEqual(['repository:a:pull']);
    expect(u.toStrings()).toEqual(['repository:a:pull,push']);
  });
});
