import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { collect, scratchDir } from '../test/helpers.js';
import { parseTar } from './reader.js';

const A = 'A'.repeat(5000);

// a, b and c, as GNU tar writes them.
const src = scratchDir('pd-reader-');
writeFileSync(join(src, 'a'), A);
writeFileSync(join(src, 'b'), 'B'.repeat(700));
writeFileSync(join(src, 'c'), 'C');
const TAR = execFileSync('tar', ['-cf', '-', '-C', src, 'a', 'b', 'c']);

/** The tar of a, b, c as chunks of `size` bytes, each after a turn of the event loop when `slow`. */
async function* chunked(size: number, slow = false): AsyncGenerator<Buffer> {
  for (let at = 0; at < TAR.length; at += size) {
    if (slow) await setImmediate();
    yield TAR.subarray(at, at + size);
  }
}

describe('parseTar', () => {
  // 512: a header never shares a chunk with its body; 700: bodies and headers split across
  // chunks; 1 MiB: the whole tar at hand, read without waiting.
  test.each([512, 700, 1 << 20])(
    'chunks of %i bytes: a body read in part, one left unread, one read whole',
    async (size) => {
      const seen: [string, string][] = [];
      for await (const { header, body } of parseTar(chunked(size))) {
        if (header.name === 'b') {
          seen.push([header.name, '']);
          continue;
        }
        const it = body[Symbol.asyncIterator]();
        const first = await it.next();
        const text = first.done ? '' : first.value.toString();
        seen.push([header.name, header.name === 'a' ? text.slice(0, 3) : text]);
        if (header.name === 'a') expect(A.startsWith(text)).toBe(true);
      }
      expect(seen).toEqual([
        ['a', 'AAA'],
        ['b', ''],
        ['c', 'C'],
      ]);
    },
  );

  test('a body read still in flight when the next entry is asked for: it ends, and the next header is read after it', async () => {
    const entries = parseTar(chunked(300, true))[Symbol.asyncIterator]();
    const a = await entries.next();
    expect(a.value?.header.name).toBe('a');
    const body = a.value!.body[Symbol.asyncIterator]();
    await body.next(); // the first 300-byte chunk's part after the header, at hand
    const inFlight = body.next(); // waits for the input's next chunk
    const b = await entries.next();
    expect(b.value?.header.name).toBe('b');
    const late = await inFlight;
    expect(late.done ? '' : late.value.toString()).toMatch(/^A*$/);
    expect((await body.next()).done).toBe(true);
    expect((await collect(b.value!.body)).toString()).toBe('B'.repeat(700));
    const c = await entries.next();
    expect(c.value?.header.name).toBe('c');
    expect((await collect(c.value!.body)).toString()).toBe('C');
    expect((await entries.next()).done).toBe(true);
  });
});
