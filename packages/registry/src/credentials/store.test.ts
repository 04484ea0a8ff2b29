import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { CredentialStore } from './store.js';

const dir = mkdtempSync(join(tmpdir(), 'pd-store-'));
const b64 = (s: string) => Buffer.from(s).toString('base64');
writeFileSync(
  join(dir, 'config.json'),
  JSON.stringify({
    auths: {
      'https://index.docker.io/v1/': { auth: b64('hubuser:hubpw') },
      'tok.example': { auth: b64('u:'), identitytoken: 'refresh-1' },
      'bearer.example': { registrytoken: 'rt-1' },
      'split.example': { username: 'su', password: 'sp' },
      'empty.example': {},
    },
  }),
);

describe('CredentialStore', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const store = new CredentialStore({ dockerConfig: dir });

  test('auths forms: auth, identity token, registry token, username/password, nothing', async () => {
    expect(await store.get('docker.io')).toEqual({
      username: 'hubuser',
      password: 'hubpw',
      identityToken: undefined,
      registryToken: undefined,
    });
    expect(await store.get('tok.example')).toMatchObject({
      username: 'u',
      password: undefined,
      identityToken: 'refresh-1',
    });
    expect(await store.get('bearer.example')).toMatchObject({ registryToken: 'rt-1' });
    expect(await store.get('split.example')).toMatchObject({ username: 'su', password: 'sp' });
    expect(await store.get('empty.example')).toBeUndefined();
    expect(await store.get('unknown.example')).toBeUndefined();
  });

  test('explicit credentials come first and match by alias', async () => {
    const s = new CredentialStore({
      dockerConfig: dir,
      credentials: { 'index.docker.io': { username: 'explicit', password: 'x' } },
    });
    expect(await s.get('docker.io')).toEqual({ username: 'explicit', password: 'x' });
    const fn = new CredentialStore({
      dockerConfig: false,
      credentials: (r) => (r === 'a.io' ? { registryToken: 't' } : undefined),
    });
    expect(await fn.get('a.io')).toEqual({ registryToken: 't' });
    expect(await fn.get('docker.io')).toBeUndefined();
    expect(fn.configPath).toBeUndefined();
  });
});
