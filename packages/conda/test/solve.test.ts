import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { condaToolsMissing, freePort } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelError, SolveError, solve } from '../src/index.js';
import { type Env, fixtureEnv } from './helpers.js';

const missing = condaToolsMissing();

describe.skipIf(missing)('solve against the fixture channel', () => {
  let env: Env;
  beforeAll(async () => {
    env = await fixtureEnv();
  });
  afterAll(async () => env?.cleanup());

  const versions = (s: Awaited<ReturnType<typeof solve>>) =>
    Object.fromEntries(s.packages.map((p) => [p.name, p.version]));

  it('picks the newest versions the constraints allow, over file:// and http', async () => {
    for (const channel of [env.channel.url, env.http.url]) {
      const s = await solve(['a', 'hello'], { channels: [channel], cacheDir: env.cacheDir('solve-1') });
      // b 3.0 is excluded by a's `b >=2,<3`; c 1.1 is the newest c.
      expect(versions(s)).toEqual({ a: '1.0', b: '2.5', c: '1.1', hello: '2.0', sh: '1.0' });
      // dependencies first
      const order = s.packages.map((p) => p.name);
      expect(order.indexOf('c')).toBeLessThan(order.indexOf('b'));
      expect(order.indexOf('b')).toBeLessThan(order.indexOf('a'));
      const hello = s.packages.find((p) => p.name === 'hello')!;
      expect(hello.url).toBe(`${channel}/linux-64/hello-2.0-h0000000_0.conda`);
      expect(hello.sha256).toBe(env.channel.get('hello-2.0').sha256);
      expect(hello.requestedSpec).toBe('hello');
      expect(s.packages.find((p) => p.name === 'c')!.requestedSpec).toBe('');
    }
  });

  it('honours version specs and channel-qualified specs', async () => {
    const alias = env.http.url.slice(0, env.http.url.lastIndexOf('/'));
    const s = await solve(['hello 1.*', 'fixture::c=1.0'], {
      channels: [],
      channelAlias: alias,
      cacheDir: env.cacheDir('solve-2'),
    });
    expect(versions(s)).toEqual({ hello: '1.0', sh: '1.0', c: '1.0' });
    expect(s.packages.every((p) => p.channelName === 'fixture' && p.channel === env.http.url)).toBe(true);
  });

  it('revalidates cached repodata with conditional requests (304)', async () => {
    const cacheDir = env.cacheDir('solve-3');
    const first = await solve(['a'], { channels: [env.http.url], cacheDir });
    expect(first.repodata.downloaded).toBe(2); // linux-64 and noarch repodata.json
    const before = env.http.requests.length;
    const second = await solve(['a'], { channels: [env.http.url], cacheDir });
    expect(second.repodata).toMatchObject({ downloaded: 0, notModified: 2 });
    const later = env.http.requests.slice(before);
    // The shard / .zst / .bz2 probes that 404ed are remembered; only repodata.json is asked again.
    expect(later.map((r) => `${r.path} ${r.status}`).sort()).toEqual([
      '/fixture/linux-64/repodata.json 304',
      '/fixture/noarch/repodata.json 304',
    ]);
    expect(later.every((r) => r.ifNoneMatch?.startsWith('"'))).toBe(true);
    // Offline: no request at all.
    const offline = await solve(['a'], { channels: [env.http.url], cacheDir, offline: true });
    expect(versions(offline)).toEqual(versions(first));
    expect(env.http.requests.length).toBe(before + 2);
  });

  it('restores the global fetch after a solve', async () => {
    const original = globalThis.fetch;
    await solve(['c'], { channels: [env.channel.url], cacheDir: env.cacheDir('solve-4') });
    expect(globalThis.fetch).toBe(original);
  });

  it('serializes concurrent solves', async () => {
    const cacheDir = env.cacheDir('solve-5');
    const results = await Promise.all([
      solve(['a'], { channels: [env.channel.url], cacheDir }),
      solve(['hello 1.*'], { channels: [env.http.url], cacheDir }),
      solve(['c 1.0'], { channels: [env.channel.url], cacheDir }),
    ]);
    expect(results.map(versions)).toEqual([
      { a: '1.0', b: '2.5', c: '1.1' },
      { hello: '1.0', sh: '1.0' },
      { c: '1.0' },
    ]);
  });

  it('explains an unsatisfiable request in one readable line', async () => {
    const err = await solve(['a', 'b >=3'], {
      channels: [env.channel.url],
      cacheDir: env.cacheDir('solve-6'),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SolveError);
    const e = err as SolveError;
    expect(e.code).toBe('CONDA_SOLVE_FAILED');
    expect(e.message).toMatch(/^cannot solve a, b >=3: /);
    expect(e.message).toContain('b >=2,<3');
    expect(e.message).not.toContain('\n');
    const none = (await solve(['nosuchpackage'], {
      channels: [env.channel.url],
      cacheDir: env.cacheDir('solve-6'),
    }).catch((x: unknown) => x)) as SolveError;
    expect(none.message).toContain('No candidates were found for nosuchpackage');
  });

  it('refuses specs that would crash the solver, without crashing', async () => {
    for (const bad of ['./local.conda', 'x[channel=conda-forge]', 'https://host/x.conda']) {
      await expect(solve([bad], { channels: [env.channel.url] })).rejects.toBeInstanceOf(SolveError);
    }
    await expect(solve(['a'], { channels: [env.channel.url], platform: 'linux-65' })).rejects.toThrow(
      /platform/,
    );
  });
});

describe('a channel that cannot be reached', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'pd-conda-unreachable-'));
  });
  afterAll(async () => rm(tmp, { recursive: true, force: true }));

  it('names the channel URL and the network cause, not the specs', async () => {
    const port = await freePort(); // nothing listens there
    const cases: Array<[string, RegExp]> = [
      [
        `http://127.0.0.1:${port}/ch`,
        /^cannot fetch http:\/\/127\.0\.0\.1:\d+\/ch\/[^ ]+: connection refused$/,
      ],
      [
        'http://pd-no-such-host.invalid/ch',
        /^cannot fetch http:\/\/pd-no-such-host\.invalid\/ch\/[^ ]+: the host name does not resolve \(DNS/,
      ],
    ];
    for (const [channel, message] of cases) {
      const e = await solve(['a'], { channels: [channel], cacheDir: join(tmp, String(port)) }).catch(
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(ChannelError);
      expect((e as ChannelError).message).toMatch(message);
      expect((e as ChannelError).hint).not.toMatch(/package names/);
    }
  });
});
