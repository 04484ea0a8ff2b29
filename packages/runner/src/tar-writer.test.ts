import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gnuTar, gnuTarMissing } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeTar } from './tar-writer.js';

describe.skipIf(gnuTarMissing())('writeTar, read back by GNU tar', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pd-tar-writer-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test('files from memory, disk and streams, long names, links, devices', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(120)}`;
    await writeFile(join(work, 'src'), 'from disk\n');
    const file = join(work, 'out.tar');
    const base = { mode: 0o644, uid: 0, gid: 0, mtime: 0 };
    await pipeline(
      writeTar([
        { ...base, name: 'mem', type: 'file', source: { data: Buffer.from('memory\n'), size: 7 } },
        { ...base, name: 'disk', type: 'file', source: { path: join(work, 'src'), size: 10 } },
        {
          ...base,
          name: long,
          type: 'file',
          source: { open: async () => Readable.from(['str', 'eam\n']), size: 7 },
        },
        { ...base, name: 'hard', type: 'link', linkname: 'mem' },
        { ...base, name: 'wh', type: 'whiteout', mode: 0 },
        { ...base, name: 'dir', type: 'directory', mode: 0o700, uid: 7, gid: 8 },
      ]),
      createWriteStream(file),
    );
    const { stdout } = await gnuTar(['-tvf', file, '--numeric-owner']);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^-rw-r--r-- 0\/0\s+7 .* mem$/);
    expect(lines[1]).toMatch(/^-rw-r--r-- 0\/0\s+10 .* disk$/);
    expect(lines[2]).toContain(long);
    expect(lines[3]).toMatch(/^hrw-r--r-- .* hard link to mem$/);
    expect(lines[4]).toMatch(/^c--------- 0\/0\s+0,0 .* wh$/);
    expect(lines[5]).toMatch(/^drwx------ 7\/8 .* dir\/?$/);
    const { stdout: content } = await gnuTar(['-xOf', file, long]);
    expect(content).toBe('stream\n');
  });

  test('a source that is not the size announced fails the stream', async () => {
    const bad = writeTar([
      {
        name: 'x',
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 0,
        source: { data: Buffer.from('12345'), size: 3 },
      },
    ]);
    await expect(pipeline(bad, createWriteStream(join(work, 'bad.tar')))).rejects.toThrow(
      /larger than 3 bytes/,
    );
  });
});
