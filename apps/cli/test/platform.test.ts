import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RunningRegistry, registryMissing, startRegistry } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasStackTrace, isolatedEnv, pd } from './helpers.js';

/**
 * --platform: its syntax is checked before any work, `all` and lists are refused by commands
 * that handle one image, and a single-platform image of another platform is refused unless
 * --force-platform (docker refuses it too). Images are made by pd build from scratch: no engine.
 */
describe('--platform', () => {
  const iso = isolatedEnv();
  const run = (args: string[]) => pd(args, { env: iso.env, cwd: iso.dir, timeout: 60_000 });
  const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

  /** An OCI layout with an index of two images (linux/amd64, linux/arm64), put together by hand. */
  function mergeLayouts(out: string, parts: Array<{ dir: string; platform: [string, string] }>): void {
    mkdirSync(join(out, 'blobs', 'sha256'), { recursive: true });
    const manifests = parts.map(({ dir, platform: [os, architecture] }) => {
      cpSync(join(dir, 'blobs'), join(out, 'blobs'), { recursive: true });
      const top = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as {
        manifests: Array<{ digest: string; size: number; mediaType: string }>;
      };
      const { digest, size, mediaType } = top.manifests[0]!;
      return { mediaType, digest, size, platform: { os, architecture } };
    });
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests,
    });
    writeFileSync(join(out, 'blobs', 'sha256', sha(index)), index);
    writeFileSync(join(out, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(
      join(out, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.index.v1+json',
            digest: `sha256:${sha(index)}`,
            size: Buffer.byteLength(index),
          },
        ],
      }),
    );
  }

  beforeAll(async () => {
    for (const arch of ['amd64', 'arm64']) {
      const dir = join(iso.dir, arch);
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, 'pd.yaml'),
        `platform: linux/${arch}\nfiles:\n  - path: /arch\n    content: "${arch}\\n"\n`,
      );
      const r = await run(['build', join(dir, 'pd.yaml'), '-o', join(iso.dir, `${arch}.layout`), '-q']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    const b = await run(['build', join(iso.dir, 'amd64', 'pd.yaml'), '-o', 'amd64.tar', '-q']);
    expect(b.code).toBe(0);
    mergeLayouts(join(iso.dir, 'multi'), [
      { dir: join(iso.dir, 'amd64.layout'), platform: ['linux', 'amd64'] },
      { dir: join(iso.dir, 'arm64.layout'), platform: ['linux', 'arm64'] },
    ]);
  });
  afterAll(() => iso.cleanup());

  const expectOneLine = (r: { code: number | null; stderr: string }, code: number, re: RegExp) => {
    expect(r.stderr.split('\n')[0]).toMatch(re);
    expect(hasStackTrace(r.stderr)).toBe(false);
    expect(r.code).toBe(code);
  };

  it('refuses bad syntax before any work, with the parser’s message', async () => {
    for (const value of ['///', 'linux/', 'linux/amd64/v8/x', 'lin ux/amd64']) {
      const r = await run(['export', '--platform', value, 'amd64.tar', 'out.tar']);
      expectOneLine(r, 2, /^pd: invalid platform "[^"]*": .+ \(a platform looks like os\/arch/);
      expect(r.stderr).toContain('usage: pd export');
    }
    // Checked before a registry is asked: this reference names no reachable registry.
    const r = await run(['pull', '--platform', '///', '127.0.0.1:1/nothing:1', '-o', 'x.tar']);
    expectOneLine(r, 2, /^pd: invalid platform "\/\/\/"/);
    expect(existsSync(join(iso.dir, 'out.tar'))).toBe(false);
  });

  it('refuses `all` and lists in every command that handles one image, with one line', async () => {
    // append, mutate, flatten, rebase, export, push, pull and copy take them (platforms.test.ts).
    const cases: string[][] = [
      ['inspect', 'multi'],
      ['digest', '127.0.0.1:1/x:1'],
      ['manifest', '127.0.0.1:1/x:1'],
      ['run', '--rm', 'multi', 'true'],
    ];
    for (const value of ['all', 'linux/amd64,linux/arm64']) {
      for (const args of cases) {
        const [name, ...rest] = args as [string, ...string[]];
        const r = await run([name, '--platform', value, ...rest]);
        expectOneLine(
          r,
          2,
          new RegExp(`^pd: --platform ${value}: pd ${name} works on one platform at a time \\(`),
        );
      }
    }
    // A list is checked before any work: a typo in one of its platforms is a usage error.
    const typo = await run([
      'mutate',
      '--platform',
      'linux/amd64,linux/',
      'multi',
      '--env',
      'A=1',
      '-o',
      'o.tar',
    ]);
    expect(typo.code).toBe(2);
    expect(existsSync(join(iso.dir, 'o.tar'))).toBe(false);
  });

  it('picks from an index without complaint; refuses a single image of another platform unless forced', async () => {
    const picked = await run(['inspect', '--platform', 'linux/arm64', 'multi']);
    expect(picked.code).toBe(0);
    expect(JSON.parse(picked.stdout).platform).toMatch(/^linux\/arm64/);

    for (const args of [
      ['inspect', 'amd64.tar'],
      ['export', 'amd64.tar', 'o.tar'],
      ['flatten', 'amd64.tar', '-o', 'o.tar'],
      ['mutate', 'amd64.tar', '--env', 'A=1', '-o', 'o.tar'],
      ['append', 'amd64.tar', '--layer', 'amd64/pd.yaml:/x', '-o', 'o.tar'],
    ]) {
      const r = await run([...args, '--platform', 'windows/arm64']);
      expectOneLine(
        r,
        1,
        /^pd: the image is linux\/amd64, not the requested windows\/arm64 \(.*--force-platform/,
      );
      expect(existsSync(join(iso.dir, 'o.tar'))).toBe(false);
    }
    const same = await run(['export', 'amd64.tar', 'o.tar', '--platform', 'linux/amd64']);
    expect(same.code).toBe(0);

    const forced = await run([
      'flatten',
      'amd64.tar',
      '-o',
      'forced.tar',
      '--platform',
      'windows/arm64',
      '--force-platform',
    ]);
    expect(forced.code).toBe(0);
    expect(forced.stderr).toMatch(
      /^pd: warning: the image is linux\/amd64, not the requested windows\/arm64; going on/m,
    );
    expect(existsSync(join(iso.dir, 'forced.tar'))).toBe(true);

    const alone = await run(['export', 'amd64.tar', 'o2.tar', '--force-platform']);
    expectOneLine(alone, 2, /^pd: --force-platform goes with --platform/);
    expect((await run(['help', 'export'])).stdout).toMatch(/--force-platform +use a single-platform image/);
  });

  describe.skipIf(registryMissing())('against the real registry', () => {
    let registry: RunningRegistry;
    beforeAll(async () => {
      registry = await startRegistry();
      const r = await run(['push', 'amd64.tar', `${registry.host}/one:1`, '-q']);
      expect(r.code).toBe(0);
    });
    afterAll(async () => {
      await registry?.stop();
    });

    it('pull, copy, digest and manifest refuse a single image of another platform', async () => {
      const ref = `${registry.host}/one:1`;
      for (const args of [
        ['pull', ref, '-o', 'p.tar'],
        ['copy', ref, `${registry.host}/two:1`],
        ['digest', ref],
        ['manifest', ref],
      ]) {
        const r = await run([...args, '--platform', 'linux/arm64']);
        expectOneLine(r, 1, /^pd: the image is linux\/amd64, not the requested linux\/arm64 \(/);
        expect(r.stdout).toBe('');
      }
      expect(existsSync(join(iso.dir, 'p.tar'))).toBe(false);
      const ok = await run(['digest', ref, '--platform', 'linux/arm64', '--force-platform']);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    });
  });
});
