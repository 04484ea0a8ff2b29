import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { STALE_TEMP_MS, tempPathBeside, writeFileAtomically } from './atomic-file.js';

/** The pid of a process that has exited (and been reaped): a writer killed mid-write. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid!;
}

describe('writeFileAtomically', () => {
  let dir: string;
  let running: ChildProcess | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pd-atomic-'));
  });
  afterEach(() => {
    running?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  test('temp files carry the writer pid; a write sweeps those of dead writers, and old ones without a pid', async () => {
    const out = join(dir, 'out.tar');
    expect(basename(tempPathBeside(out))).toMatch(
      new RegExp(`^\\.out\\.tar\\.${process.pid}\\.[0-9a-f]{12}\\.pd-tmp$`),
    );

    // Left by a pd killed with SIGKILL while writing out.tar, and while writing another file here.
    const killed = tempPathBeside(out, deadPid());
    const killedOther = tempPathBeside(join(dir, 'index.json'), deadPid());
    // Being written right now by a live process: must survive.
    running = spawn('sleep', ['60']);
    const live = tempPathBeside(out, running.pid!);
    // Names of pds that encoded no pid: removed only when nobody touched them for hours.
    const oldAbandoned = join(dir, '.out.tar.0123456789ab.pd-tmp');
    const oldRecent = join(dir, '.out.tar.ba9876543210.pd-tmp');
    const notOurs = join(dir, '.out.tar.notes');
    for (const f of [killed, killedOther, live, oldAbandoned, oldRecent, notOurs])
      writeFileSync(f, 'partial');
    const hoursAgo = (Date.now() - STALE_TEMP_MS - 60_000) / 1000;
    utimesSync(oldAbandoned, hoursAgo, hoursAgo);

    await writeFileAtomically(out, (fh) => fh.writeFile('whole'));
    expect(readFileSync(out, 'utf8')).toBe('whole');
    expect(readdirSync(dir).sort()).toEqual(
      ['out.tar', basename(live), basename(oldRecent), basename(notOurs)].sort(),
    );
  });

  test('a failed fill leaves nothing but what was there', async () => {
    const out = join(dir, 'x.json');
    await expect(
      writeFileAtomically(out, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(readdirSync(dir)).toEqual([]);
  });
});
