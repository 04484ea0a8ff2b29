import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { applyLayers, readEntries, type TarHeader, tarDirectory, tarOverlayUpper } from '../src/index.js';

const isRoot = process.getuid?.() === 0;

function overlayMissing(): string | undefined {
  if (!isRoot) return 'needs root to mount overlayfs';
  try {
    execFileSync('getfattr', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'needs getfattr (apt-get install attr)';
  }
  return undefined;
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function headers(layer: Buffer): Promise<TarHeader[]> {
  const out: TarHeader[] = [];
  for await (const e of readEntries(layer)) {
    out.push(e.header);
    for await (const _ of e.body);
  }
  return out;
}

/** Every entry of a tree as `find` sees it: type, mode, owner, size, link target or content hash. */
function tree(dir: string): string[] {
  return execFileSync(
    'sh',
    ['-c', `cd "$1" && find . -mindepth 1 -printf '%p %y %m %U:%G %s %l\\n' | sort`, 'sh', dir],
    { encoding: 'utf8' },
  )
    .trim()
    .split('\n');
}

/**
 * Changes made through a real overlayfs mount (as a container makes them), read back from its
 * upper directory: the layer applied on the lower tree must give what the mount showed.
 */
describe.skipIf(overlayMissing())('tarOverlayUpper on a real overlayfs upper directory', () => {
  const root = mkdtempSync(join(tmpdir(), 'pd-overlay-'));
  const [lower, upper, work, merged, seen] = ['lower', 'upper', 'work', 'merged', 'seen'].map((d) =>
    join(root, d),
  ) as [string, string, string, string, string];
  let entries: TarHeader[];
  let layer: Buffer;

  beforeAll(async () => {
    for (const d of [lower, upper, work, merged]) mkdirSync(d);
    mkdirSync(join(lower, 'etc'));
    writeFileSync(join(lower, 'etc', 'keep'), 'kept\n');
    writeFileSync(join(lower, 'etc', 'gone'), 'to delete\n');
    mkdirSync(join(lower, 'data', 'recreated'), { recursive: true });
    writeFileSync(join(lower, 'data', 'recreated', 'old'), 'hidden by the opaque dir\n');
    writeFileSync(join(lower, 'data', 'changed'), 'before\n');
    mkdirSync(join(lower, 'dir-gone'));
    writeFileSync(join(lower, 'dir-gone', 'f'), 'x\n');
    execFileSync('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${lower},upperdir=${upper},workdir=${work}`,
      merged,
    ]);
    try {
      const sh = (script: string) => execFileSync('sh', ['-c', script], { cwd: merged });
      sh(
        'printf "new\\n" > etc/new && chown 1000:1000 etc/new && chmod 0640 etc/new && ln etc/new etc/new-link',
      );
      sh('setfattr -n user.note -v hello etc/new');
      sh('rm etc/gone && rm -r dir-gone && printf "after\\n" > data/changed');
      sh('rm -r data/recreated && mkdir data/recreated && printf "z\\n" > data/recreated/z');
      sh('mkdir -p deep/er && ln -s ../etc/keep deep/er/link');
      execFileSync('cp', ['-a', merged, seen]);
    } finally {
      execFileSync('umount', [merged]);
    }
    layer = await collect(tarOverlayUpper(upper, { clampMtime: 1_700_000_000 }));
    entries = [];
    for await (const e of readEntries(layer)) {
      entries.push(e.header);
      for await (const _ of e.body);
    }
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test('deletions are whiteouts, a recreated directory is opaque, overlay xattrs stay out', () => {
    const names = entries.map((h) => h.name);
    expect(names).toContain('etc/.wh.gone');
    expect(names).toContain('.wh.dir-gone');
    expect(names).toContain('data/recreated/.wh..wh..opq');
    expect(names).not.toContain('data/recreated/old');
    expect(names).not.toContain('etc/keep');
    for (const h of entries) {
      expect(Object.keys(h.xattrs ?? {}).filter((k) => k.includes('overlay'))).toEqual([]);
      expect(h.mtime).toBeLessThanOrEqual(1_700_000_000);
    }
  });

  test('owners, modes, hardlinks and user xattrs are kept', () => {
    const file = entries.find((h) => h.name === 'etc/new')!;
    expect([file.uid, file.gid, file.mode]).toEqual([1000, 1000, 0o640]);
    expect(file.xattrs?.['user.note']?.toString()).toBe('hello');
    const link = entries.find((h) => h.name === 'etc/new-link')!;
    expect([link.type, link.linkname]).toEqual(['link', 'etc/new']);
    expect(entries.find((h) => h.name === 'deep/er/link')).toMatchObject({
      type: 'symlink',
      linkname: '../etc/keep',
    });
  });

  test('the lower tree with the layer applied is what the mount showed', async () => {
    const out = join(root, 'applied');
    const base = await collect(tarDirectory(lower, { owner: 'keep', mtime: 'keep' }));
    await applyLayers(out, [base, layer], { chown: true });
    expect(tree(out)).toEqual(tree(seen));
  });

  test('the same changes give the same bytes', async () => {
    expect((await collect(tarOverlayUpper(upper, { clampMtime: 1_700_000_000 }))).equals(layer)).toBe(true);
  });

  test('read through find, getfattr and GNU tar (as a rootless container is), the same bytes', async () => {
    const started: string[] = [];
    const runTool = (argv: string[], input?: string) => {
      started.push(argv[0]!);
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
      child.stdin.end(input);
      return child.stdout;
    };
    for (const opts of [{}, { mountPoints: ['/deep/er', '/etc/new'] }]) {
      const inProcess = await collect(tarOverlayUpper(upper, { clampMtime: 1_700_000_000, ...opts }));
      const throughTools = await collect(
        tarOverlayUpper(upper, { clampMtime: 1_700_000_000, runTool, ...opts }),
      );
      expect(await headers(throughTools)).toEqual(await headers(inProcess));
      expect(throughTools.equals(inProcess)).toBe(true);
    }
    expect(started).toEqual(['find', 'getfattr', 'tar', 'find', 'getfattr', 'tar']);
  });
});
