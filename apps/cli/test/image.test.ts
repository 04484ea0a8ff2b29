import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  docker,
  dockerMissing,
  type Fixtures,
  fixtureImages,
  type RunningRegistry,
  registryMissing,
  skopeo,
  skopeoMissing,
  startRegistry,
  umoci,
  umociMissing,
  which,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasStackTrace, isolatedEnv, pd } from './helpers.js';

const missing = registryMissing() ?? dockerMissing() ?? skopeoMissing();

interface Out {
  digest: string;
  size: number;
  mediaType: string;
  reference?: string;
  path?: string;
  format?: string;
}

describe.skipIf(missing)('image commands against the real registry, checked with docker and skopeo', () => {
  let registry: RunningRegistry;
  let fx: Fixtures;
  let host: string;
  const iso = isolatedEnv();
  const run = (args: string[]) => pd(args, { env: iso.env, cwd: iso.dir, timeout: 120_000 });
  const json = async (args: string[]): Promise<Out> => {
    const r = await run([...args, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as Out;
  };
  const dockerRun = async (ref: string, ...cmd: string[]) =>
    (await docker(['run', '--rm', '--pull', 'always', '--network', 'none', ref, ...cmd])).stdout;

  beforeAll(async () => {
    registry = await startRegistry();
    host = registry.host;
    fx = await fixtureImages(registry);
    mkdirSync(join(iso.dir, 'app', 'bin'), { recursive: true });
    writeFileSync(join(iso.dir, 'app', 'hello.txt'), 'hello from pd append\n');
    writeFileSync(join(iso.dir, 'tool.sh'), '#!/bin/sh\necho tool ran\n', { mode: 0o755 });
  });
  afterAll(async () => {
    await registry?.stop();
    iso.cleanup();
  });

  it('pull writes a tar docker loads and skopeo reads, and an OCI layout umoci reads', async () => {
    const tar = join(iso.dir, 'small.tar');
    const out = await json(['pull', fx.small.ref, '-o', tar]);
    expect(out).toEqual({
      digest: fx.small.digest,
      size: fx.small.size,
      mediaType: fx.small.mediaType,
      path: tar,
      format: 'combined',
    });
    const loaded = await docker(['load', '-i', tar]);
    expect(loaded.stdout).toContain(`${host}/fixtures/small:latest`);
    await skopeo(['inspect', `docker-archive:${tar}`]);

    const classic = join(iso.dir, 'classic.tar');
    expect((await json(['pull', fx.small.ref, '-o', classic, '--format', 'docker'])).format).toBe('docker');
    expect(execFileSync('tar', ['-tf', classic], { encoding: 'utf8' })).toMatch(
      /^[0-9a-f]{64}\/layer\.tar$/m,
    );

    const layout = join(iso.dir, 'layout');
    const l = await json(['pull', fx.small.ref, '-o', layout]);
    expect(l).toMatchObject({
      path: layout,
      format: 'oci-layout',
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
    });
    const inspected = JSON.parse((await skopeo(['inspect', `oci:${layout}:latest`])).stdout) as {
      Digest: string;
    };
    expect(inspected.Digest).toBe(l.digest);
    if (!umociMissing()) await umoci(['stat', '--image', `${layout}:latest`]);
  });

  it('push uploads a file; copy keeps digests, --all-platforms keeps the index', async () => {
    const pushed = await json(['push', join(iso.dir, 'small.tar'), `${host}/copies/small:1`]);
    expect(pushed.reference).toBe(`${host}/copies/small:1@${pushed.digest}`);
    expect(await dockerRun(`${host}/copies/small:1`, 'cat', '/hello.txt')).toBe(fx.small.files['/hello.txt']);

    const copied = await json(['copy', fx.small.ref, `${host}/copies/small:2`]);
    expect(copied.digest).toBe(fx.small.digest);
    const all = await json(['copy', '--all-platforms', fx.multiArch.list.ref, `${host}/copies/multi:1`]);
    expect(all.digest).toBe(fx.multiArch.list.digest);
    const one = await json([
      'copy',
      '--platform',
      'linux/arm64',
      fx.multiArch.list.ref,
      `${host}/copies/multi:arm64`,
    ]);
    expect(one.digest).toBe(fx.multiArch.platforms.find((p) => p.architecture === 'arm64')!.digest);
  });

  it('append adds files, directories and config; docker runs the result', async () => {
    const ref = `${host}/apps/hello:1`;
    const out = await json([
      'append',
      fx.small.ref,
      '--layer',
      `${join(iso.dir, 'app')}:/srv/app`,
      '--layer',
      `${join(iso.dir, 'tool.sh')}:/usr/local/bin/tool`,
      '--env',
      'MODE=test',
      '--label',
      'org.example=yes',
      '--entrypoint',
      '["/bin/sh","-c"]',
      '--cmd',
      '["cat /srv/app/hello.txt; tool; echo $MODE"]',
      '-t',
      ref,
    ]);
    expect(out.reference).toBe(`${ref}@${out.digest}`);
    expect(await dockerRun(ref)).toBe('hello from pd append\ntool ran\ntest\n');
    const info = JSON.parse((await run(['inspect', ref])).stdout) as {
      layers: unknown[];
      config: { labels: Record<string, string>; env: string[] };
    };
    expect(info.layers).toHaveLength(fx.small.layers.length + 2);
    expect(info.config.labels['org.example']).toBe('yes');
    expect(info.config.env).toContain('MODE=test');
  });

  it('mutate changes only the config; -o with -t names the image in the archive', async () => {
    const tar = join(iso.dir, 'mutated.tar');
    await json([
      'mutate',
      fx.withUser.ref,
      '--entrypoint',
      '',
      '--cmd',
      'echo mutated',
      '--user',
      '0',
      '-o',
      tar,
      '-t',
      'pd-test/mutated:1',
    ]);
    expect((await docker(['load', '-i', tar])).stdout).toContain('pd-test/mutated:1');
    expect((await docker(['run', '--rm', '--network', 'none', 'pd-test/mutated:1'])).stdout).toBe(
      'mutated\n',
    );
    const before = JSON.parse((await run(['inspect', fx.withUser.ref])).stdout) as {
      layers: Array<{ digest: string }>;
    };
    const after = JSON.parse((await run(['inspect', tar])).stdout) as {
      layers: Array<{ digest: string }>;
      config: { user: string };
    };
    expect(after.layers.map((l) => l.digest)).toEqual(before.layers.map((l) => l.digest));
    expect(after.config.user).toBe('0');
  });

  it('inspect describes images and indexes', async () => {
    const image = JSON.parse((await run(['inspect', fx.withUser.ref])).stdout) as Record<string, unknown>;
    expect(image).toMatchObject({
      digest: fx.withUser.digest,
      mediaType: fx.withUser.mediaType,
      size: fx.withUser.size,
      platform: 'linux/amd64',
      config: {
        digest: fx.withUser.configDigest,
        user: 'app',
        workingDir: '/home/app',
        entrypoint: ['/usr/local/bin/entrypoint.sh'],
        cmd: ['id'],
        exposedPorts: ['8080/tcp', '9090/udp'],
        volumes: ['/data'],
        stopSignal: 'SIGQUIT',
      },
      layers: fx.withUser.layers.map((l) => ({
        digest: l.digest,
        diffId: l.diffId,
        size: l.size,
        mediaType: l.mediaType,
      })),
    });
    const index = JSON.parse((await run(['inspect', fx.multiArch.index.ref])).stdout) as Record<
      string,
      unknown
    >;
    expect(index).toEqual({
      digest: fx.multiArch.index.digest,
      mediaType: fx.multiArch.index.mediaType,
      size: fx.multiArch.index.size,
      manifests: expect.arrayContaining([expect.objectContaining({ platform: 'linux/arm64/v8' })]),
    });
  });

  it('export applies whiteouts, as a tar and into a directory; flatten squashes to one layer', async () => {
    const tar = join(iso.dir, 'rootfs.tar');
    expect((await run(['export', fx.layered.ref, tar])).code).toBe(0);
    const names = execFileSync('tar', ['-tf', tar], { encoding: 'utf8' }).split('\n');
    for (const p of fx.layered.absent) expect(names).not.toContain(p.slice(1));
    expect(names).toContain('data/new');
    const dir = join(iso.dir, 'rootfs');
    const r = await run(['export', '--json', fx.layered.ref, dir]);
    expect(JSON.parse(r.stdout)).toMatchObject({ path: dir, entries: expect.any(Number), skipped: 0 });
    expect(readFileSync(join(dir, 'etc', 'app.conf'), 'utf8')).toBe('answer=42\n');

    const flat = await json(['flatten', fx.layered.ref, '-t', `${host}/apps/flat:1`]);
    const info = JSON.parse((await run(['inspect', `${host}/apps/flat@${flat.digest}`])).stdout) as {
      layers: unknown[];
    };
    expect(info.layers).toHaveLength(1);
    expect(await dockerRun(`${host}/apps/flat:1`, 'cat', '/data/new')).toBe('new\n');
  });

  it('rebase swaps the base layers and keeps the rest', async () => {
    const app = `${host}/apps/rebase-me:1`;
    await json([
      'append',
      fx.small.ref,
      '--layer',
      `${join(iso.dir, 'tool.sh')}:/usr/local/bin/tool`,
      '-t',
      app,
    ]);
    const out = await json([
      'rebase',
      app,
      '--old-base',
      fx.small.ref,
      '--new-base',
      fx.layered.ref,
      '-t',
      `${host}/apps/rebased:1`,
    ]);
    const info = JSON.parse((await run(['inspect', `${host}/apps/rebased@${out.digest}`])).stdout) as {
      layers: Array<{ digest: string }>;
    };
    const appInfo = JSON.parse((await run(['inspect', app])).stdout) as { layers: Array<{ digest: string }> };
    expect(info.layers.map((l) => l.digest)).toEqual([
      ...fx.layered.layers.map((l) => l.digest),
      appInfo.layers.at(-1)!.digest,
    ]);
    expect(await dockerRun(`${host}/apps/rebased:1`, 'sh', '-c', 'tool; cat /data/new')).toBe(
      'tool ran\nnew\n',
    );
  });

  it('off a terminal: no progress bars, no escape codes; --verbose gives plain lines', async () => {
    const r = await run(['pull', fx.layered.ref, '-o', join(iso.dir, 'quiet.tar')]);
    expect(r.stderr).not.toMatch(/\x1b/);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^wrote .*quiet\.tar \(combined, sha256:[0-9a-f]{64}\)\n$/);
    const v = await pd(['pull', '--verbose', fx.layered.ref, '-o', join(iso.dir, 'verbose.tar')], {
      env: { ...iso.env, PD_CACHE_DIR: join(iso.dir, 'fresh-cache') },
    });
    expect(v.stderr).not.toMatch(/\x1b/);
    expect(v.stderr).toMatch(/^pd: sha256:[0-9a-f]{12}: download \(\d[\d.]* [kMG]?B\)$/m);
    const q = await run(['pull', '-q', fx.layered.ref, '-o', join(iso.dir, 'q.tar')]);
    expect(q.stderr).toBe('');
    expect(q.stdout).toMatch(/^wrote .*q\.tar \(combined, sha256:[0-9a-f]{64}\)\n$/);
  });

  describe.skipIf(!which('script'))('on a terminal', () => {
    it('draws per-layer bars with sizes on stderr', () => {
      const cmd = `node ${JSON.stringify(join(__dirname, '..', 'dist', 'main.js'))} pull ${fx.layered.ref} -o ${join(iso.dir, 'tty.tar')}`;
      const out = execFileSync('script', ['-qec', cmd, '/dev/null'], {
        encoding: 'utf8',
        env: { ...iso.env, PD_CACHE_DIR: join(iso.dir, 'tty-cache'), TERM: 'xterm', COLUMNS: '100' },
      });
      expect(out).toMatch(/\x1b\[2K/);
      expect(out).toMatch(/sha256:[0-9a-f]{12} +done +1\.\d+ MB/);
      expect(out).toMatch(/wrote .*tty\.tar/);
    });
  });

  describe('bad input: one line, exit code, a hint, no stack trace', () => {
    const cases: Array<[string, () => string[], number, RegExp]> = [
      ['pull without -o', () => ['pull', fx.small.ref], 2, /^pd: missing --output \(-o\) PATH$/],
      [
        'append without layers',
        () => ['append', fx.small.ref, '-t', `${host}/x:1`],
        2,
        /^pd: nothing to append/,
      ],
      [
        'append without destination',
        () => ['append', fx.small.ref, '--layer', 'x'],
        2,
        /^pd: say where the result goes: -t REF to push it, -o PATH to write it$/,
      ],
      [
        'a missing tag',
        () => ['pull', `${host}/fixtures/small:nope`, '-o', 'x.tar'],
        1,
        /^pd: manifest .*small:nope not found .*\(check the tag or digest/,
      ],
      [
        'an unknown host',
        () => ['copy', 'registry.invalid/a:1', `${host}/a:1`],
        1,
        /^pd: cannot resolve registry host registry\.invalid \(/,
      ],
      [
        'a corrupt archive',
        () => ['push', join(iso.dir, 'junk.tar'), `${host}/x:1`],
        1,
        /^pd: .*junk\.tar.* \(.+\)$/,
      ],
      [
        'a missing file',
        () => ['push', join(iso.dir, 'none.tar'), `${host}/x:1`],
        1,
        /^pd: no such file or directory: .*none\.tar \(give a docker archive/,
      ],
      [
        'a missing layer source',
        () => ['append', fx.small.ref, '--layer', 'nothere:/x', '-o', 'o.tar'],
        1,
        /^pd: cannot stat nothere: no such file or directory \(check the path\)$/,
      ],
      [
        'a bad env',
        () => ['mutate', fx.small.ref, '--env', 'NOEQ', '-o', 'o.tar'],
        2,
        /^pd: --env expects KEY=VALUE, got "NOEQ"$/,
      ],
      [
        'a wrong old base',
        () => [
          'rebase',
          fx.small.ref,
          '--old-base',
          fx.layered.ref,
          '--new-base',
          fx.small.ref,
          '-o',
          'r.tar',
        ],
        1,
        /^pd: the image is not based on the old base .* \(pass the exact base/,
      ],
      [
        'an index into a docker archive',
        () => ['pull', '--all-platforms', fx.multiArch.list.ref, '-o', 'm.tar'],
        2,
        /^pd: a docker archive holds single-platform images \(pick one with --platform/,
      ],
      [
        'no such platform',
        () => ['pull', '--platform', 'linux/s390x', fx.multiArch.list.ref, '-o', 'm.tar'],
        1,
        /^pd: no image for platform linux\/s390x \(available: /,
      ],
    ];
    beforeAll(() => writeFileSync(join(iso.dir, 'junk.tar'), Buffer.alloc(3000, 7)));
    it.concurrent.each(cases)('%s', async (_name, args, code, message) => {
      const r = await run(args());
      expect(r.code).toBe(code);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines[0]).toMatch(message);
      expect(lines.length).toBe(code === 2 ? 3 : 1);
      expect(hasStackTrace(r.stderr)).toBe(false);
    });
  });
});
