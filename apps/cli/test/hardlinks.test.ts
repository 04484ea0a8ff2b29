import { join } from 'node:path';
import { buildImage, docker, dockerMissing } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, pd } from './helpers.js';
import { describeEntries, dockerFilesystem, unpack } from './tree.js';

const missing = dockerMissing();

describe.skipIf(missing)('hardlinks across layers, judged by docker export of the same image', () => {
  const iso = isolatedEnv();
  const TAG = 'pd-fixtures/hardlinks:1';
  let archive: string;
  let dockerTree: Record<string, string>;

  beforeAll(async () => {
    await buildImage({
      tag: TAG,
      steps: [
        // Two link groups in one layer: h1+h2, a+b+c (one of them owned by a user, setuid kept).
        'RUN mkdir /hl && echo old > /hl/h1 && ln /hl/h1 /hl/h2 && echo keep > /hl/a && chown 1000:1000 /hl/a && chmod 4755 /hl/a && ln /hl/a /hl/b && ln /hl/a /hl/c',
        // Rewriting h1 breaks its link (copy-up); deleting a leaves b and c with the content.
        'RUN echo new > /hl/h1 && rm /hl/a',
      ],
    });
    archive = join(iso.dir, 'image.tar');
    await docker(['save', '-o', archive, TAG]);
    dockerTree = await dockerFilesystem(TAG, join(iso.dir, 'docker'));
  }, 600_000);
  afterAll(() => iso.cleanup());

  it('docker export itself shows the overlay meaning the tests rely on', () => {
    expect(dockerTree['hl/h2']).toMatch(/^file 644 0:0 4 /);
    expect(dockerTree['hl/h1']).toMatch(/^file 644 0:0 4 /);
    expect(dockerTree['hl/h1']).not.toBe(dockerTree['hl/h2']);
    expect(dockerTree['hl/b']).toMatch(/^file 4755 1000:1000 5 .* linked with 1$/);
    expect(dockerTree['hl/a']).toBeUndefined();
  });

  it('pd export to a tar gives the tree docker export gives, entry by entry', async () => {
    const r = await pd(['export', archive, join(iso.dir, 'pd.tar')], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    expect(unpack(join(iso.dir, 'pd.tar'), join(iso.dir, 'pd'))).toEqual(dockerTree);
  });

  it('pd flatten keeps both groups: its one layer exports to the same tree', async () => {
    const flat = join(iso.dir, 'flat.tar');
    const f = await pd(['flatten', archive, '-o', flat], { env: iso.env });
    expect(f.code, f.stderr).toBe(0);
    const r = await pd(['export', flat, join(iso.dir, 'flat-export.tar')], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    expect(unpack(join(iso.dir, 'flat-export.tar'), join(iso.dir, 'flat'))).toEqual(dockerTree);
  });

  it('pd export to a directory agrees too', async () => {
    const r = await pd(['export', archive, join(iso.dir, 'pd-dir')], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    const tree = describeEntries(join(iso.dir, 'pd-dir'));
    for (const p of ['hl/h1', 'hl/h2', 'hl/b', 'hl/c'])
      expect(tree[p]?.split(' ').slice(3)).toEqual(dockerTree[p]?.split(' ').slice(3));
  });
});
