import { describe, expect, test } from 'vitest';
import { apiHost } from './endpoint.js';
import { normalizeRegistry } from './login.js';
import { identifier, refName, toReference, toRepository, toSourceRepository } from './types.js';

describe('names', () => {
  test('Docker Hub: library/ prefix, API host, config spellings', () => {
    expect(toRepository('ubuntu')).toEqual({ registry: 'docker.io', repository: 'library/ubuntu' });
    expect(toRepository({ registry: 'docker.io', repository: 'ubuntu' })).toEqual({
      registry: 'docker.io',
      repository: 'library/ubuntu',
    });
    expect(toRepository({ registry: 'ghcr.io', repository: 'ubuntu' }).repository).toBe('ubuntu');
    expect(apiHost('docker.io')).toBe('registry-1.docker.io');
    expect(apiHost('ghcr.io')).toBe('ghcr.io');
    for (const s of ['docker.io', 'index.docker.io', 'https://index.docker.io/v1/', 'registry-1.docker.io']) {
      expect(normalizeRegistry(s)).toBe('docker.io');
    }
    expect(normalizeRegistry('https://127.0.0.1:5000/')).toBe('127.0.0.1:5000');
  });

  test('mount sources: bare paths stay on the target registry, full names keep theirs', () => {
    const to = { registry: '127.0.0.1:5000', repository: 'app' };
    expect(toSourceRepository(to, 'team/base')).toEqual({
      registry: '127.0.0.1:5000',
      repository: 'team/base',
    });
    expect(toSourceRepository(to, 'base')).toEqual({ registry: '127.0.0.1:5000', repository: 'base' });
    expect(toSourceRepository(to, 'localhost:5000/base')).toEqual({
      registry: 'localhost:5000',
      repository: 'base',
    });
    expect(toSourceRepository(to, 'ghcr.io/o/base')).toEqual({ registry: 'ghcr.io', repository: 'o/base' });
    expect(toSourceRepository(to, { registry: 'docker.io', repository: 'alpine' }).repository).toBe(
      'library/alpine',
    );
  });

  test('references: identifier prefers the digest, then the tag, then latest', () => {
    const d = `sha256:${'a'.repeat(64)}`;
    expect(identifier({ registry: 'r', repository: 'x' })).toBe('latest');
    expect(identifier({ registry: 'r', repository: 'x', tag: 't', digest: d })).toBe(d);
    expect(refName(toReference('localhost:5000/app:1'))).toBe('localhost:5000/app:1');
  });
});
