import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildCondaChannel,
  CONDA_TEXT_PLACEHOLDER,
  type CondaChannel,
  condaFixturePackages,
  condaToolsMissing,
  serveCondaChannel,
} from '../src/index.js';

describe.skipIf(condaToolsMissing())('conda fixture channel', () => {
  let root: string;
  let channel: CondaChannel;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'pd-conda-channel-'));
    channel = await buildCondaChannel(join(root, 'channel'), condaFixturePackages());
  });
  afterAll(async () => rm(root, { recursive: true, force: true }));

  it('publishes every package in repodata.json with its real checksum (but the corrupt one)', async () => {
    const linux = JSON.parse(await readFile(join(channel.dir, 'linux-64', 'repodata.json'), 'utf8'));
    const noarch = JSON.parse(await readFile(join(channel.dir, 'noarch', 'repodata.json'), 'utf8'));
    for (const p of channel.packages) {
      const repo = p.subdir === 'noarch' ? noarch : linux;
      const record = repo[p.filename.endsWith('.conda') ? 'packages.conda' : 'packages'][p.filename];
      const sha = createHash('sha256')
        .update(await readFile(p.path))
        .digest('hex');
      expect(p.sha256).toBe(sha);
      if (p.spec.corruptSha256) expect(record.sha256).not.toBe(sha);
      else
        expect(record).toMatchObject({
          name: p.spec.name,
          version: p.spec.version,
          sha256: sha,
          size: p.size,
        });
    }
    expect(noarch.packages['greet-0.1-pyh0000000_0.tar.bz2'].noarch).toBe('python');
  });

  it('writes .tar.bz2 packages GNU tar reads and .conda zips of zstd tars', async () => {
    const tbz = execFileSync('tar', ['-tjf', channel.get('hello-1.0').path], { encoding: 'utf8' });
    expect(tbz.split('\n')).toEqual(
      expect.arrayContaining(['info/paths.json', 'info/has_prefix', 'bin/hello']),
    );
    const conda = channel.get('hello-2.0').path;
    const members = execFileSync('unzip', ['-Z1', conda], { encoding: 'utf8' }).trim().split('\n');
    expect(members).toEqual([
      'metadata.json',
      'info-hello-2.0-h0000000_0.tar.zst',
      'pkg-hello-2.0-h0000000_0.tar.zst',
    ]);
    const script = execFileSync(
      'sh',
      ['-c', `unzip -p "${conda}" pkg-hello-2.0-h0000000_0.tar.zst | zstd -dc | tar -xOf - bin/hello`],
      { encoding: 'utf8' },
    );
    expect(script.startsWith(`#!${CONDA_TEXT_PLACEHOLDER}/bin/sh\n`)).toBe(true);
    const legacy = execFileSync('tar', ['-tjf', channel.get('legacy-1.0').path], { encoding: 'utf8' });
    expect(legacy).not.toContain('info/paths.json');
  });

  it('serves the channel with ETags and 304s', async () => {
    const served = await serveCondaChannel(channel.dir, 'fx');
    try {
      const first = await fetch(`${served.url}/linux-64/repodata.json`);
      expect(first.status).toBe(200);
      await first.arrayBuffer();
      const etag = first.headers.get('etag')!;
      const again = await fetch(`${served.url}/linux-64/repodata.json`, {
        headers: { 'if-none-match': etag },
      });
      expect(again.status).toBe(304);
      expect((await fetch(`${served.url}/linux-64/repodata.json.zst`)).status).toBe(404);
      expect((await fetch(`${served.url}/../etc/passwd`)).status).toBe(404);
      expect(served.requests.map((r) => r.status)).toEqual([200, 304, 404, 404]);
    } finally {
      await served.stop();
    }
  });
});
