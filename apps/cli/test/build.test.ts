import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildCondaChannel,
  condaFixturePackages,
  condaToolsMissing,
  docker,
  dockerMissing,
  type Fixtures,
  fixtureImages,
  type RunningRegistry,
  registryMissing,
  type ServedCondaChannel,
  serveCondaChannel,
  startForwardProxy,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_DIR, hasStackTrace, isolatedEnv, pd } from './helpers.js';

const EXAMPLE = join(CLI_DIR, '..', '..', 'examples', 'pd.yaml');
const missing = registryMissing() ?? dockerMissing();

interface Out {
  digest: string;
  reference?: string;
  path?: string;
  packages?: string[];
  layers?: { built: number; reused: number };
  warnings?: string[];
}

describe('pd build (offline, from examples/pd.yaml)', () => {
  const iso = isolatedEnv();
  const run = (args: string[]) => pd(args, { env: iso.env, cwd: iso.dir, timeout: 120_000 });
  afterAll(() => iso.cleanup());

  it('is reproducible and names the image after the spec', async () => {
    const a = await run(['build', EXAMPLE, '-o', join(iso.dir, 'a.tar'), '--json']);
    expect(a.code).toBe(0);
    const b = await run(['build', EXAMPLE, '-o', join(iso.dir, 'b.tar'), '--json']);
    expect((JSON.parse(b.stdout) as Out).digest).toBe((JSON.parse(a.stdout) as Out).digest);
    const info = JSON.parse((await run(['inspect', join(iso.dir, 'a.tar')])).stdout) as {
      config: { entrypoint: string[]; user: string; exposedPorts: string[] };
      created: string;
    };
    expect(info.config).toMatchObject({
      entrypoint: ['/app/hello.sh'],
      user: '1000:1000',
      exposedPorts: ['8080/tcp'],
    });
    expect(info.created).toBe('1970-01-01T00:00:00Z');
  });

  it('explains a bad pd.yaml in one line naming the field', async () => {
    writeFileSync(join(iso.dir, 'bad.yaml'), 'base: scratch\nconfig:\n  ports: [http]\n');
    const r = await run(['build', join(iso.dir, 'bad.yaml'), '-o', 'x.tar']);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^pd: invalid pd\.yaml: \$\.config\.ports\[0\]: /);
    writeFileSync(join(iso.dir, 'broken.yaml'), 'base: [unclosed\n');
    const y = await run(['build', join(iso.dir, 'broken.yaml'), '-o', 'x.tar']);
    expect(y.stderr.trimEnd()).toMatch(
      /^pd: cannot read .*broken\.yaml: not valid YAML .* \(pd\.yaml must be a YAML mapping\)$/,
    );
    const none = await run(['build', '-o', 'x.tar']);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(
      "pd: cannot read pd.yaml: no such file or directory (the current directory holds no pd.yaml: write one, as in @pd/build's README, or give its path)\n",
    );
    const noOut = await run(['build', EXAMPLE]);
    expect(noOut.code).toBe(2);
  });

  it('reads DIR/pd.yaml for a directory, and says what is missing', async () => {
    const fromDir = await run(['build', join(EXAMPLE, '..'), '-o', 'dir.tar', '--json']);
    expect(fromDir.code).toBe(0);
    const fromFile = await run(['build', EXAMPLE, '-o', 'file.tar', '--json']);
    expect(JSON.parse(fromDir.stdout).digest).toBe(JSON.parse(fromFile.stdout).digest);
    mkdirSync(join(iso.dir, 'empty'), { recursive: true });
    const empty = await run(['build', 'empty', '-o', 'x.tar']);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(
      /^pd: cannot read empty\/pd\.yaml: no such file or directory \(empty holds no pd\.yaml: /,
    );
    expect(empty.stderr).not.toMatch(/EISDIR|ENOENT|mapping/);
  });

  it('a layer src that does not exist: one line naming the field and the path, no stack', async () => {
    mkdirSync(join(iso.dir, 'app'), { recursive: true });
    writeFileSync(join(iso.dir, 'app', 'pd.yaml'), 'layers:\n  - src: nope\n    dest: /x\n');
    const r = await run(['build', 'app', '-o', 'x.tar']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `pd: pd.yaml $.layers[0].src: ${join(iso.dir, 'app', 'nope')}: no such file or directory (paths in pd.yaml are relative to its directory, ${join(iso.dir, 'app')})\n`,
    );
    expect(hasStackTrace(r.stderr)).toBe(false);
  });
});

describe.skipIf(missing)('pd build with a base from the registry, pushed', () => {
  let registry: RunningRegistry;
  let fx: Fixtures;
  const iso = isolatedEnv();
  beforeAll(async () => {
    registry = await startRegistry();
    fx = await fixtureImages(registry);
  });
  afterAll(async () => {
    await registry?.stop();
    iso.cleanup();
  });

  it('docker runs what pd build pushed', async () => {
    const dir = join(iso.dir, 'proj');
    mkdirSync(join(dir, 'src'), { recursive: true });
    writeFileSync(join(dir, 'src', 'main.sh'), '#!/bin/sh\necho "built by pd: $GREETING"\n', { mode: 0o755 });
    writeFileSync(
      join(dir, 'pd.yaml'),
      `base: ${fx.small.ref}\nlayers:\n  - src: src\n    dest: /app\nconfig:\n  env:\n    GREETING: hi\n  cmd: ["/app/main.sh"]\n`,
    );
    const ref = `${registry.host}/built/app:1`;
    const r = await pd(['build', '-t', ref, '--json'], { env: iso.env, cwd: dir, timeout: 120_000 });
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as Out).reference).toMatch(new RegExp(`^${ref}@sha256:`));
    const out = await docker(['run', '--rm', '--pull', 'always', '--network', 'none', ref]);
    expect(out.stdout).toBe('built by pd: hi\n');
  });
});

describe.skipIf(missing ?? condaToolsMissing())('pd conda build against a local channel', () => {
  let registry: RunningRegistry;
  let fx: Fixtures;
  let channel: ServedCondaChannel;
  const iso = isolatedEnv();
  const run = (args: string[]) => pd(args, { env: iso.env, cwd: iso.dir, timeout: 180_000 });

  beforeAll(async () => {
    registry = await startRegistry();
    fx = await fixtureImages(registry);
    const built = await buildCondaChannel(join(iso.dir, 'channel'), condaFixturePackages());
    channel = await serveCondaChannel(built.dir, 'fixture');
  });
  afterAll(async () => {
    await Promise.all([registry?.stop(), channel?.stop()]);
    iso.cleanup();
  });

  it('solves, links and layers the environment; docker runs it; a rebuild reuses the layers', async () => {
    const tar = join(iso.dir, 'env.tar');
    const args = [
      'conda',
      'build',
      '-b',
      fx.small.ref,
      '-i',
      'pd-test/conda:1',
      '-o',
      tar,
      '-c',
      channel.url,
      'hello=2.0',
      '--json',
    ];
    const r = await run(args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const first = JSON.parse(r.stdout) as Out;
    expect(first.packages).toEqual(['sh-1.0-h0000000_0', 'hello-2.0-h0000000_0']);
    expect(first.layers!.built).toBeGreaterThan(0);
    expect((await docker(['load', '-i', tar])).stdout).toContain('pd-test/conda:1');
    const out = await docker(['run', '--rm', '--network', 'none', 'pd-test/conda:1', 'hello']);
    expect(out.stdout).toBe('hello 2.0 from /opt/conda\nprefix of /opt/conda/bin/hello\n');

    const again = JSON.parse((await run(args)).stdout) as Out;
    expect(again.digest).toBe(first.digest);
    expect(again.layers).toEqual({ built: 0, reused: first.layers!.built });
  });

  it('takes an environment.yml and pushes', async () => {
    writeFileSync(join(iso.dir, 'environment.yml'), `channels:\n  - ${channel.url}\ndependencies:\n  - a\n`);
    const ref = `${registry.host}/conda/a:1`;
    const r = await run([
      'conda',
      'build',
      '-b',
      'scratch',
      '-i',
      ref,
      '--push',
      '-f',
      join(iso.dir, 'environment.yml'),
      '--layering',
      'single',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const got = JSON.parse(r.stdout) as Out;
    expect(got.reference).toBe(`${ref}@${got.digest}`);
    expect(got.packages).toEqual(['c-1.1-h0000000_0', 'b-2.5-h0000000_0', 'a-1.0-h0000000_0']);
  });

  it('fetches channels through HTTP_PROXY, except what NO_PROXY names', async () => {
    const proxy = await startForwardProxy();
    const { seen } = proxy;
    const proxyUrl = proxy.url;
    try {
      const args = [
        'conda',
        'build',
        '-b',
        'scratch',
        '-i',
        'x/p:1',
        '-o',
        join(iso.dir, 'p.tar'),
        '-c',
        channel.url,
        'c',
      ];
      const env = { ...iso.env, PD_CACHE_DIR: join(iso.dir, 'proxy-cache'), HTTP_PROXY: proxyUrl };
      const via = await pd(args, { env, timeout: 120_000 });
      expect(via.code).toBe(0);
      expect(seen).toContain(`CONNECT ${new URL(channel.url).host}`);
      seen.length = 0;
      const direct = await pd(args, {
        env: { ...env, PD_CACHE_DIR: join(iso.dir, 'direct-cache'), NO_PROXY: '127.0.0.1' },
        timeout: 120_000,
      });
      expect(direct.code).toBe(0);
      expect(seen).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  describe('bad input', () => {
    const cases: Array<[string, () => string[], number, RegExp]> = [
      [
        'no base',
        () => ['conda', 'build', '-i', 'x:1', '-o', 'x.tar', 'a'],
        2,
        /^pd: missing --base \(-b\) BASE/,
      ],
      [
        'no environment',
        () => ['conda', 'build', '-b', 'scratch', '-i', 'x:1', '-o', 'x.tar'],
        2,
        /^pd: no environment: /,
      ],
      [
        'no destination',
        () => ['conda', 'build', '-b', 'scratch', '-i', 'x:1', 'a'],
        2,
        /^pd: say where the result goes/,
      ],
      [
        'an unsolvable spec',
        () => ['conda', 'build', '-b', 'scratch', '-i', 'x:1', '-o', 'x.tar', '-c', channel.url, 'nosuchpkg'],
        1,
        /^pd: .*nosuchpkg.*/,
      ],
      [
        'a corrupt package',
        () => ['conda', 'build', '-b', 'scratch', '-i', 'x:1', '-o', 'x.tar', '-c', channel.url, 'broken'],
        1,
        /^pd: .*broken.* \(.+\)$/,
      ],
    ];
    it.concurrent.each(cases)('%s', async (_name, args, code, message) => {
      const r = await run(args());
      expect(r.code).toBe(code);
      expect(r.stdout).toBe('');
      expect(r.stderr.split('\n')[0]).toMatch(message);
      if (code === 1) expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(hasStackTrace(r.stderr)).toBe(false);
    });
  });
});
