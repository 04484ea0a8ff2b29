import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, docker, dockerMissing } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, pd } from './helpers.js';

const missing = dockerMissing();

/** What docker's init layer adds to every container (mount points, /etc/mtab), not the image's. */
const DOCKER_ONLY = new Set([
  '.dockerenv',
  'etc/hosts',
  'etc/hostname',
  'etc/resolv.conf',
  'etc/mtab',
  'dev',
  'proc',
  'sys',
]);

/**
 * Each entry of a tree, as `docker export` users see it: type, mode, owner, size, content hash,
 * symlink target. Hardlinks are compared by what they hold (content), and by which paths share
 * an inode, not by which member of a group the tar names first.
 */
function describeEntries(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const inodes = new Map<number, string[]>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      if (DOCKER_ONLY.has(path)) continue;
      const full = join(root, path);
      const st = lstatSync(full);
      const head = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        out[path] = `dir ${head}`;
        walk(path);
      } else if (st.isSymbolicLink()) {
        out[path] = `symlink ${head} -> ${readlinkSync(full)}`;
      } else if (st.isFile()) {
        const hash = createHash('sha256').update(readFileSync(full)).digest('hex').slice(0, 16);
        out[path] = `file ${head} ${st.size} ${hash}`;
        if (st.nlink > 1) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), path]);
      } else {
        out[path] = `other ${head}`;
      }
    }
  };
  walk('');
  for (const group of inodes.values()) for (const p of group) out[p] += ` linked with ${group.length - 1}`;
  return out;
}

/** Unpack a tar with GNU tar as root (owners and modes kept) into a new directory. */
function unpack(tar: string, dir: string): Record<string, string> {
  mkdirSync(dir);
  execFileSync('tar', ['-xpf', tar, '-C', dir, '--same-owner', '--numeric-owner']);
  return describeEntries(dir);
}

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
    const id = (await docker(['create', TAG, 'true'])).stdout.trim();
    try {
      await docker(['export', '-o', join(iso.dir, 'docker.tar'), id]);
    } finally {
      await docker(['rm', '-f', id]);
    }
    dockerTree = unpack(join(iso.dir, 'docker.tar'), join(iso.dir, 'docker'));
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
