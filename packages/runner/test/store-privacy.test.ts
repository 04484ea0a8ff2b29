import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Layer } from '@pd/image';
import type { Digest } from '@pd/oci-types';
import { archive, isRoot, rawEntry, which } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LayerStore } from '../src/index.js';

// The layer store holds what images hold: setuid-root binaries, device nodes, world-writable
// directories. Another local user must reach none of it (CVE-2021-41091's class in Moby): the
// checks below run as nobody, through setpriv, against a cache in a world-traversable directory.

function privacySkip(): string | undefined {
  let reason: string | undefined;
  if (!isRoot) reason = 'skipped: store privacy (needs root to unpack setuid-root files and devices)';
  else if (!which('setpriv')) reason = 'skipped: store privacy (setpriv not installed; util-linux)';
  else if (!which('busybox')) reason = 'skipped: store privacy (busybox not installed; busybox-static)';
  if (reason) process.stderr.write(`[pd tests] ${reason}\n`);
  return reason;
}

const skip = privacySkip();

function bytesLayer(bytes: Buffer): Layer {
  const d = `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
  return {
    digest: async () => d,
    diffId: async () => d,
    size: async () => bytes.length,
    mediaType: async () => 'application/vnd.oci.image.layer.v1.tar',
    compressed: async () => Readable.from([bytes]),
    uncompressed: async () => Readable.from([bytes]),
  };
}

/** What nobody gets when it tries each attack: an errno code, or "ok" when it worked. */
function asNobody(suid: string, device: string, tmpDir: string, layers: string): Record<string, string> {
  const script = `
    const fs = require('node:fs'), cp = require('node:child_process'), path = require('node:path');
    const [suid, device, tmpDir, layers] = process.argv.slice(1);
    const attempt = (f) => { try { f(); return 'ok'; } catch (e) { return e.code ?? String(e.message); } };
    console.log(JSON.stringify({
      exec: attempt(() => cp.execFileSync(suid, ['true'], { stdio: 'ignore' })),
      device: attempt(() => fs.closeSync(fs.openSync(device, 'r+'))),
      plant: attempt(() => fs.writeFileSync(path.join(tmpDir, 'planted'), 'x')),
      list: attempt(() => fs.readdirSync(layers)),
    }));`;
  const out = execFileSync(
    'setpriv',
    [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      process.execPath,
      '-e',
      script,
      suid,
      device,
      tmpDir,
      layers,
    ],
    { encoding: 'utf8', cwd: '/' },
  );
  return JSON.parse(out) as Record<string, string>;
}

describe.skipIf(skip)('the layer store is private to its owner', () => {
  let work: string;
  let layer: Layer;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pd-store-privacy-'));
    // World-traversable, as /var/cache or a 0755 home is.
    await chmod(work, 0o755);
    const busybox = await readFile(which('busybox')!);
    layer = bytesLayer(
      archive(
        rawEntry({ name: 'bin/', type: '5', mode: 0o755 }),
        rawEntry({ name: 'bin/suid', mode: 0o4755, uid: 0, gid: 0 }, busybox),
        rawEntry({ name: 'dev/', type: '5', mode: 0o755 }),
        rawEntry({ name: 'dev/null', type: '3', mode: 0o666, devmajor: 1, devminor: 3 }),
        rawEntry({ name: 'tmp/', type: '5', mode: 0o1777 }),
      ),
    );
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test('nobody can neither run its setuid files, open its devices, nor write into a lower layer', async () => {
    const cacheDir = join(work, 'shared');
    // The cache directory itself exists and is open (PD_CACHE_DIR=/var/cache/pd): the store's own
    // directory must close the way.
    await mkdir(cacheDir, { mode: 0o755 });
    await chmod(cacheDir, 0o755);
    const store = new LayerStore({ cacheDir });
    const got = await store.ensure(layer);
    // The files are there as the image has them (the container needs them so)...
    expect((await stat(join(got.fs, 'bin/suid'))).mode & 0o7777).toBe(0o4755);
    expect((await stat(join(got.fs, 'dev/null'))).isCharacterDevice()).toBe(true);
    expect((await stat(join(got.fs, 'tmp'))).mode & 0o7777).toBe(0o1777);
    // ...behind a directory only root enters.
    expect((await stat(store.root)).mode & 0o777).toBe(0o700);
    expect(
      asNobody(join(got.fs, 'bin/suid'), join(got.fs, 'dev/null'), join(got.fs, 'tmp'), store.root),
    ).toEqual({
      exec: 'EACCES',
      device: 'EACCES',
      plant: 'EACCES',
      list: 'EACCES',
    });
  });

  test('a new cache is created 0700', async () => {
    const cacheDir = join(work, 'fresh', 'pd');
    const store = new LayerStore({ cacheDir });
    await store.ensure(layer);
    expect((await stat(cacheDir)).mode & 0o777).toBe(0o700);
    expect((await stat(store.root)).mode & 0o777).toBe(0o700);
  });

  test('a store an older pd left 0755 is tightened on first use (run, or cache ls)', async () => {
    for (const use of ['ensure', 'list'] as const) {
      const cacheDir = join(work, `old-${use}`);
      const root = join(cacheDir, 'layers');
      await mkdir(join(root, 'sha256'), { recursive: true, mode: 0o755 });
      await chmod(root, 0o755);
      const store = new LayerStore({ cacheDir });
      if (use === 'ensure') await store.ensure(layer);
      else await store.list();
      expect((await stat(root)).mode & 0o777, use).toBe(0o700);
    }
  });
});
