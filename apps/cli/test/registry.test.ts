import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  dockerMissing,
  type Fixtures,
  fixtureImages,
  type RunningRegistry,
  registryMissing,
  skopeo,
  skopeoMissing,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasStackTrace, isolatedEnv, pd } from './helpers.js';

const missing = registryMissing() ?? dockerMissing() ?? skopeoMissing();
const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe.skipIf(missing)('registry commands against the real registry', () => {
  let registry: RunningRegistry;
  let fx: Fixtures;
  const iso = isolatedEnv();
  const run = (args: string[]) => pd(args, { env: iso.env });

  beforeAll(async () => {
    registry = await startRegistry();
    fx = await fixtureImages(registry);
  });
  afterAll(async () => {
    await registry?.stop();
    iso.cleanup();
  });

  async function skopeoDigest(ref: string): Promise<string> {
    const { stdout } = await skopeo(['inspect', '--tls-verify=false', `docker://${ref}`]);
    return (JSON.parse(stdout) as { Digest: string }).Digest;
  }

  it('pd digest prints what skopeo inspect reports as Digest (image, manifest list, OCI index)', async () => {
    for (const ref of [fx.small.ref, fx.multiArch.list.ref, fx.multiArch.index.ref]) {
      const r = await run(['digest', ref]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(`${await skopeoDigest(ref)}\n`);
    }
    expect((await run(['digest', fx.small.ref])).stdout.trim()).toBe(fx.small.digest);
  });

  it('pd digest --json and --platform', async () => {
    const r = await run(['digest', '--json', fx.multiArch.list.ref]);
    expect(JSON.parse(r.stdout)).toEqual({
      reference: fx.multiArch.list.ref,
      digest: fx.multiArch.list.digest,
      mediaType: fx.multiArch.list.mediaType,
      size: fx.multiArch.list.size,
    });
    const arm = fx.multiArch.platforms.find((p) => p.architecture === 'arm64')!;
    const p = await run(['digest', '--platform', 'linux/arm64', fx.multiArch.list.ref]);
    expect(p.stdout.trim()).toBe(arm.digest);
    const none = await run(['digest', '--platform', 'linux/s390x', fx.multiArch.list.ref]);
    expect(none.code).toBe(1);
    expect(none.stderr.trimEnd()).toMatch(
      /^pd: no image for platform linux\/s390x \(available: linux\/amd64, linux\/arm64\/v8\)$/,
    );
  });

  it('pd manifest writes the bytes the digest is of; --json wraps them', async () => {
    const r = await run(['manifest', fx.small.ref]);
    expect(r.code).toBe(0);
    expect(sha256(r.stdoutBytes)).toBe(fx.small.digest);
    const j = JSON.parse((await run(['manifest', '--json', fx.small.ref])).stdout) as Record<string, unknown>;
    expect(j).toEqual({
      reference: fx.small.ref,
      digest: fx.small.digest,
      mediaType: fx.small.mediaType,
      size: fx.small.size,
      manifest: JSON.parse(r.stdout),
    });
    const amd = fx.multiArch.platforms.find((p) => p.architecture === 'amd64')!;
    const child = await run(['manifest', '--platform', 'linux/amd64', fx.multiArch.index.ref]);
    expect(sha256(child.stdoutBytes)).toBe(amd.ociDigest);
  });

  it('pd blob streams a verified blob to stdout or to a file', async () => {
    const repo = `${registry.host}/${fx.small.repository}`;
    const config = await run(['blob', `${repo}@${fx.small.configDigest}`]);
    expect(config.code).toBe(0);
    expect(sha256(config.stdoutBytes)).toBe(fx.small.configDigest);
    const layer = fx.small.layers[0]!;
    const out = join(iso.dir, 'layer.tgz');
    const r = await run(['blob', '--json', '-o', out, `${repo}@${layer.digest}`]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ digest: layer.digest, size: layer.size, path: out });
    expect(sha256(readFileSync(out))).toBe(layer.digest);
  });

  it('pd tags and pd catalog list, as lines or JSON', async () => {
    const tags = await run(['tags', `${registry.host}/fixtures/multi`]);
    expect(tags.stdout.split('\n').filter(Boolean).sort()).toEqual(['amd64', 'arm64', 'latest']);
    expect(JSON.parse((await run(['tags', '--json', `${registry.host}/fixtures/small`])).stdout)).toEqual([
      'latest',
    ]);
    const cat = await run(['catalog', registry.host]);
    expect(cat.stdout.split('\n')).toEqual(expect.arrayContaining(['fixtures/small', 'fixtures/multi']));
    expect(JSON.parse((await run(['catalog', '--json', registry.host])).stdout)).toContain(
      'fixtures/layered',
    );
  });

  it('pd delete: by tag it names the digest to use; by digest it deletes', async () => {
    const ref = `${registry.host}/scratch/del:1`;
    await skopeo([
      'copy',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      `docker://${fx.small.ref}`,
      `docker://${ref}`,
    ]);
    const byTag = await run(['delete', ref]);
    expect(byTag.code).toBe(1);
    expect(byTag.stderr.trimEnd()).toBe(
      `pd: ${registry.host} does not delete by tag (pd delete ${registry.host}/scratch/del@${fx.small.digest} deletes the manifest ${ref} points at, with every tag on it)`,
    );
    const r = await run(['delete', '--json', `${registry.host}/scratch/del@${fx.small.digest}`]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ deleted: `${registry.host}/scratch/del@${fx.small.digest}` });
    const gone = await run(['digest', ref]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^pd: manifest .*scratch\/del:1 not found/);
  });

  describe('bad input: one line, exit 1, a hint, no stack trace', () => {
    const cases: Array<[string, () => string[], RegExp]> = [
      [
        'missing tag',
        () => ['digest', `${registry.host}/fixtures/small:nope`],
        /^pd: manifest .*small:nope not found \(.*\) \(check the tag or digest/,
      ],
      [
        'missing repository',
        () => ['tags', `${registry.host}/no/such`],
        /^pd: .*no\/such.* not found .*\(check the repository name/,
      ],
      [
        'unknown registry host',
        () => ['digest', 'registry.invalid/app:1'],
        /^pd: cannot resolve registry host registry\.invalid \(check the registry name/,
      ],
      [
        'nothing listening',
        () => ['tags', '127.0.0.1:1/app'],
        /^pd: connection refused by 127\.0\.0\.1:1 \(is the registry running/,
      ],
      [
        'missing blob',
        () => ['blob', `${registry.host}/fixtures/small@sha256:${'0'.repeat(64)}`],
        /^pd: blob .* not found .*\(the registry does not hold this blob/,
      ],
    ];
    it.concurrent.each(cases)('%s', async (_name, args, message) => {
      const r = await run(args());
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr.trimEnd()).toMatch(message);
      expect(hasStackTrace(r.stderr)).toBe(false);
    });

    it('a blob reference without digest is a usage error (exit 2)', async () => {
      const r = await run(['blob', `${registry.host}/fixtures/small:latest`]);
      expect(r.code).toBe(2);
      const [line, usage] = r.stderr.split('\n');
      expect(line).toMatch(/^pd: ".*small:latest" names no digest \(write REPO@sha256:<hex>/);
      expect(usage).toBe('usage: pd blob REPO@DIGEST [-o FILE]');
    });

    it('--verbose adds the stack trace; PD_DEBUG=1 too', async () => {
      const args = ['digest', `${registry.host}/fixtures/small:nope`];
      const v = await run(['--verbose', ...args]);
      expect(v.code).toBe(1);
      expect(hasStackTrace(v.stderr)).toBe(true);
      const d = await pd(args, { env: { ...iso.env, PD_DEBUG: '1' } });
      expect(hasStackTrace(d.stderr)).toBe(true);
    });
  });
});
