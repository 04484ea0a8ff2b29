import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';
import type { Io } from '../src/context.js';
import { hasStackTrace, isolatedEnv } from './helpers.js';

/**
 * Ctrl-C in the middle of a command, on a terminal: the bars are erased, `pd: interrupted` is the
 * last line (no stack, even with --verbose), the exit code is 130 and no output is left behind.
 * Run in-process, so the abort lands exactly while the bars are drawn.
 */
describe('an interrupted command', () => {
  const iso = isolatedEnv();
  beforeAll(() => {
    mkdirSync(join(iso.dir, 'big'));
    // Enough bytes that the layer is still being written when the first bar is drawn.
    for (let i = 0; i < 8; i++) writeFileSync(join(iso.dir, 'big', `f${i}`), randomBytes(4 << 20));
  });
  afterAll(() => iso.cleanup());

  async function interrupt(extra: string[]): Promise<{ code: number; stderr: string }> {
    const controller = new AbortController();
    let stderr = '';
    const io: Io = {
      stdout: Object.assign(new PassThrough(), { isTTY: true }),
      stderr: {
        isTTY: true,
        columns: 100,
        write(chunk: string | Uint8Array) {
          stderr += chunk.toString();
          // The first drawn bar: the user presses Ctrl-C.
          if (stderr.includes('\x1b[2K')) controller.abort();
          return true;
        },
      },
      stdin: Object.assign(new PassThrough(), { isTTY: false }),
      env: { ...iso.env, TERM: 'xterm' },
    };
    const out = join(iso.dir, 'out.tgz');
    const code = await runCli(
      ['layer', 'create', join(iso.dir, 'big'), '-o', out, ...extra],
      io,
      controller.signal,
    );
    return { code, stderr };
  }

  it('erases the bars, then prints one line, exit 130, nothing left behind', async () => {
    const { code, stderr } = await interrupt([]);
    expect(code).toBe(130);
    expect(stderr).toMatch(/\x1b\[2K/); // bars were drawn
    // The last thing before the line moves up over the bars and erases them.
    expect(stderr).toMatch(/\x1b\[\d+F\x1b\[Jpd: interrupted\n$/);
    expect(readdirSync(iso.dir).filter((n) => n.includes('out.tgz'))).toEqual([]);
  });

  it('--verbose shows no stack for an interrupt', async () => {
    const { code, stderr } = await interrupt(['--verbose']);
    expect(code).toBe(130);
    expect(stderr).toMatch(/pd: interrupted\n$/);
    expect(hasStackTrace(stderr)).toBe(false);
    expect(stderr).not.toMatch(/AbortError|caused by/);
  });
});
