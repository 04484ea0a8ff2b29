import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  createReadStream,
  linkSync,
  mkdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { docker, dockerMissing, missingTools } from '@pd/test-fixtures';
import { describe, expect, test } from 'vitest';
import { extract, tarDirectory, writeLayerFile } from '../src/index.js';
import { describeTree, scratchDir } from './helpers.js';

const base = scratchDir('pd-interop-');

function makeSource(dir: string): void {
  mkdirSync(join(dir, 'usr/bin'), { recursive: true });
  mkdirSync(join(dir, 'etc/conf.d'), { recursive: true });
  mkdirSync(join(dir, `deep/${'a'.repeat(90)}/${'b'.repeat(90)}`), { recursive: true });
  writeFileSync(join(dir, 'usr/bin/hello'), '#!/bin/sh\necho hello from pd\n');
  chmodSync(join(dir, 'usr/bin/hello'), 0o755);
  writeFileSync(join(dir, 'etc/conf.d/app.conf'), 'x=1\n');
  chmodSync(join(dir, 'etc/conf.d/app.conf'), 0o600);
  writeFileSync(join(dir, 'etc/big'), Buffer.alloc(3 << 20, 'pd'));
  writeFileSync(join(dir, `deep/${'a'.repeat(90)}/${'b'.repeat(90)}/long-name-file.txt`), 'long\n');
  writeFileSync(join(dir, 'etc/ünïcødé.txt'), 'utf8\n');
  symlinkSync('../usr/bin/hello', join(dir, 'etc/hello-link'));
  linkSync(join(dir, 'usr/bin/hello'), join(dir, 'usr/bin/hello-again'));
}

const src = join(base, 'src');
mkdirSync(src);
makeSource(src);

describe.skipIf(missingTools('tar', 'gzip', 'zstd'))('GNU tar, gzip and zstd read what pd writes', () => {
  test.each(['gzip', 'zstd', 'none'] as const)(
    '%s layer: tools validate it and extract the same tree',
    async (compression) => {
      const file = join(base, `layer.${compression}`);
      await writeLayerFile(tarDirectory(src, { mtime: 1_600_000_000 }), file, { compression });
      if (compression === 'gzip') execFileSync('gzip', ['-t', file]);
      if (compression === 'zstd') execFileSync('zstd', ['-q', '-t', file]);
      const listing = execFileSync('tar', ['-tvf', file], { encoding: 'utf8' });
      expect(listing).toMatch(/^-rwxr-xr-x 0\/0 .* usr\/bin\/hello$/m);
      expect(listing).toMatch(/^hrwxr-xr-x 0\/0 .* usr\/bin\/hello-again link to usr\/bin\/hello$/m);
      expect(listing).toMatch(/^lrwxrwxrwx 0\/0 .* etc\/hello-link -> \.\.\/usr\/bin\/hello$/m);
      expect(listing).toContain('long-name-file.txt');
      const out = join(base, `gnu-${compression}`);
      mkdirSync(out);
      execFileSync('tar', ['-xf', file, '-C', out]);
      expect(describeTree(out)).toEqual(describeTree(src));
      expect(statSync(join(out, 'usr/bin/hello')).ino).toBe(statSync(join(out, 'usr/bin/hello-again')).ino);
      expect(Math.floor(statSync(join(out, 'etc/big')).mtimeMs / 1000)).toBe(1_600_000_000);
    },
  );

  test('pd extracts what GNU tar writes (gzip and zstd) to the same tree', async () => {
    for (const [flag, ext] of [
      ['-z', 'gz'],
      ['--zstd', 'zst'],
    ] as const) {
      const file = join(base, `gnu.tar.${ext}`);
      execFileSync('tar', ['-c', flag, '-f', file, '-C', src, '.']);
      const out = join(base, `pd-from-gnu-${ext}`);
      await extract(createReadStream(file), out);
      expect(describeTree(out)).toEqual(describeTree(src));
    }
  });
});

describe.skipIf(dockerMissing())('docker imports a pd layer', () => {
  test('docker import + run', async () => {
    const root = join(base, 'rootfs');
    mkdirSync(join(root, 'bin'), { recursive: true });
    execFileSync('cp', ['/usr/bin/busybox', join(root, 'bin/busybox')]);
    symlinkSync('busybox', join(root, 'bin/sh'));
    symlinkSync('busybox', join(root, 'bin/cat'));
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc/greeting'), 'hello from a pd layer\n');
    const file = join(base, 'docker-layer.tar.gz');
    const info = await writeLayerFile(tarDirectory(root), file);
    const tag = `pd-tar-test:${info.digest.slice(7, 19)}`;
    await docker(['import', file, tag]);
    try {
      const { stdout } = await docker(['run', '--rm', tag, '/bin/cat', '/etc/greeting']);
      expect(stdout).toBe('hello from a pd layer\n');
      const { stdout: inspect } = await docker([
        'image',
        'inspect',
        '--format',
        '{{json .RootFS.Layers}}',
        tag,
      ]);
      expect(JSON.parse(inspect)).toEqual([info.diffId]);
    } finally {
      await docker(['rmi', '-f', tag]).catch(() => undefined);
    }
  });
});
