import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  dockerMissing,
  fixtureImages,
  type RunningRegistry,
  registryMissing,
  skopeo,
  skopeoMissing,
  startRegistry,
  startTokenIssuer,
  type TokenIssuer,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasStackTrace, isolatedEnv, type PdResult, pd } from './helpers.js';

const missing = registryMissing() ?? dockerMissing() ?? skopeoMissing();
const PASSWORD = 'pd-s3cret-Pa55word';
const WRONG = 'not-the-Pa55word-42';
const JWT = /eyJ[A-Za-z0-9_-]{8,}/;

function noSecrets(r: PdResult, ...secrets: string[]): void {
  const all = `${r.stdout}\n${r.stderr}`;
  for (const s of secrets) {
    expect(all).not.toContain(s);
    expect(all).not.toContain(Buffer.from(s).toString('base64'));
  }
  expect(all).not.toMatch(JWT);
}

describe.skipIf(missing)('login, logout and credentials', () => {
  let source: RunningRegistry;
  let basic: RunningRegistry;
  let issuer: TokenIssuer;
  let token: RunningRegistry;
  let smallRef: string;
  const iso = isolatedEnv();
  const run = (args: string[], input?: string) =>
    pd(args, { env: iso.env, ...(input !== undefined ? { input } : {}) });

  beforeAll(async () => {
    source = await startRegistry();
    smallRef = (await fixtureImages(source)).small.ref;
    basic = await startRegistry({ htpasswd: { alice: PASSWORD } });
    issuer = await startTokenIssuer({
      users: { bob: { password: PASSWORD, access: { '*': ['pull', 'push'] } } },
    });
    token = await startRegistry({ token: issuer.config });
    for (const [reg, user] of [
      [basic, 'alice'],
      [token, 'bob'],
    ] as const) {
      await skopeo([
        'copy',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        '--dest-creds',
        `${user}:${PASSWORD}`,
        `docker://${smallRef}`,
        `docker://${reg.host}/app:1`,
      ]);
    }
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), basic?.stop(), token?.stop(), issuer?.stop()]);
    iso.cleanup();
  });

  it('without credentials: says to log in', async () => {
    const r = await run(['tags', `${basic.host}/app`]);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd()).toMatch(
      new RegExp(
        `^pd: tags of ${basic.host}/app: authentication required \\(.*\\) \\(.*run pd login ${basic.host}\\)$`,
      ),
    );
  });

  it('a wrong password: one line naming the user, never the password', async () => {
    for (const reg of [basic, token]) {
      const user = reg === basic ? 'alice' : 'bob';
      const r = await run(['login', reg.host, '-u', user, '--password-stdin'], `${WRONG}\n`);
      expect(r.code).toBe(1);
      expect(r.stderr.trimEnd()).toMatch(
        new RegExp(
          `^pd: (login|authentication failed): ${reg.host} rejected the credentials of "${user}" \\(check`,
        ),
      );
      expect(hasStackTrace(r.stderr)).toBe(false);
      noSecrets(r, WRONG);
      // Even with a stack trace, the password stays out.
      const v = await run(['login', '--verbose', reg.host, '-u', user, '-p', WRONG]);
      expect(v.code).toBe(1);
      expect(v.stderr).toContain('prefer --password-stdin');
      noSecrets(v, WRONG);
    }
  });

  it('login stores credentials docker reads, later commands use them, logout removes them', async () => {
    const r = await run(['login', '--json', basic.host, '-u', 'alice', '--password-stdin'], `${PASSWORD}\n`);
    expect(r.code).toBe(0);
    const configPath = join(iso.env.DOCKER_CONFIG!, 'config.json');
    expect(JSON.parse(r.stdout)).toEqual({
      registry: basic.host,
      storedIn: configPath,
      identityToken: false,
    });
    noSecrets(r, PASSWORD);
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as {
      auths: Record<string, { auth: string }>;
    };
    expect(Buffer.from(config.auths[basic.host]!.auth, 'base64').toString()).toBe(`alice:${PASSWORD}`);

    const tags = await run(['tags', '--verbose', `${basic.host}/app`]);
    expect(tags.code).toBe(0);
    expect(tags.stdout).toBe('1\n');
    noSecrets(tags, PASSWORD);

    const out = await run(['logout', '--json', basic.host]);
    expect(JSON.parse(out.stdout)).toEqual({ registry: basic.host, removed: true });
    expect((await run(['tags', `${basic.host}/app`])).code).toBe(1);
    expect(JSON.parse((await run(['logout', '--json', basic.host])).stdout)).toEqual({
      registry: basic.host,
      removed: false,
    });
  });

  it('token auth: no token or refresh token ever printed, even with --verbose', async () => {
    const r = await run(['login', token.host, '-u', 'bob', '--password-stdin'], PASSWORD);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^logged in to .* \(credentials stored in .*config\.json\)$/m);
    const config = JSON.parse(readFileSync(join(iso.env.DOCKER_CONFIG!, 'config.json'), 'utf8')) as {
      auths: Record<string, { identitytoken?: string }>;
    };
    const refresh = config.auths[token.host]?.identitytoken;
    for (const args of [
      ['digest', '--verbose', `${token.host}/app:1`],
      ['tags', '--verbose', `${token.host}/app`],
      ['digest', '--verbose', `${token.host}/app:missing`],
    ]) {
      const x = await run(args);
      noSecrets(x, PASSWORD, ...(refresh ? [refresh] : []));
    }
    expect((await run(['tags', `${token.host}/app`])).stdout).toBe('1\n');
  });

  it('no password and no terminal: a usage error saying what to give', async () => {
    const r = await run(['login', basic.host, '-u', 'alice']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe(
      'pd: missing password: give --password-stdin (or -p) when stdin is not a terminal',
    );
    const both = await run(['login', basic.host, '-u', 'alice', '-p', 'x', '--password-stdin']);
    expect(both.code).toBe(2);
  });
});
