import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { PdError } from '@pd/oci-types';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { collect, scratchDir } from '../test/helpers.js';
import { extract, readEntries, tarContents } from './index.js';
import { parseTar } from './reader.js';

// Bounded property runs: each case is small, so the whole file stays within a few seconds.
const RUNS = 150;

// Every property runs from one seed, PD_TEST_SEED (fixed in vitest.shared.ts; set it to try
// another): fast-check prints it with a failure, so the run can be repeated exactly.
fc.configureGlobal({ seed: Number(process.env.PD_TEST_SEED) });
const base = scratchDir('pd-tar-fuzz-');

/** Read every entry and every body byte; return how it ended. */
async function drain(input: AsyncIterable<Uint8Array>): Promise<'ok' | PdError> {
  try {
    for await (const e of parseTar(input)) for await (const _ of e.body);
    return 'ok';
  } catch (e) {
    if (e instanceof PdError) return e;
    throw e; // anything else (a TypeError, a RangeError) is a bug the property reports
  }
}

async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}
/** The same bytes in chunks of the given sizes, so header and body boundaries fall anywhere. */
async function* chunked(b: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let o = 0;
  for (let i = 0; o < b.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length] ?? 512);
    yield b.subarray(o, o + n);
    o += n;
  }
}

describe('tar reader under fuzzing', () => {
  let valid: Buffer;
  beforeAll(async () => {
    // Long names (PAX), a symlink, a hard link, a directory and bodies that are not block-sized.
    valid = await collect(
      tarContents({
        'etc/': { type: 'dir' },
        'etc/hosts': '127.0.0.1 localhost\n',
        [`deep/${'n'.repeat(150)}/file`]: 'x'.repeat(1500),
        link: { type: 'symlink', linkname: 'etc/hosts' },
        hard: { type: 'link', linkname: 'etc/hosts' },
        empty: '',
      }),
    );
  });

  test('random bytes: the parser ends or throws a PdError, never anything else', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (bytes) => {
        await drain(once(bytes));
      }),
      { numRuns: RUNS },
    );
  });

  test('random headers (blocks with a valid checksum): ends or throws a PdError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 512, maxLength: 512 }), { maxLength: 4 }),
        async (blocks) => {
          for (const b of blocks) {
            // Make the checksum right so the fuzz reaches the fields behind it.
            b.fill(0x20, 148, 156);
            let sum = 0;
            for (const x of b) sum += x;
            Buffer.from(`${sum.toString(8).padStart(6, '0')}\0 `).copy(b, 148);
          }
          await drain(once(Buffer.concat(blocks)));
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('a valid tar with bytes flipped, cut or chunked anywhere: ends or throws a PdError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.option(fc.nat()),
        fc.array(fc.integer({ min: 1, max: 1100 }), { minLength: 1, maxLength: 5 }),
        async (flips, cut, sizes) => {
          const b = Buffer.from(valid);
          for (const [at, v] of flips) b[at % b.length] = v;
          const input = cut === null ? b : b.subarray(0, cut % b.length);
          await drain(chunked(input, sizes));
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('gzip-compressed and corrupted: readEntries throws a PdError, never a raw zlib error', async () => {
    const gz = gzipSync(valid);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        async (flips) => {
          const b = Buffer.from(gz);
          // Past the two magic bytes, so the input is still taken for gzip.
          for (const [at, v] of flips) b[2 + (at % (b.length - 2))] = v;
          try {
            for await (const e of readEntries(b)) await collect(e.body);
          } catch (e) {
            expect(e).toBeInstanceOf(PdError);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('extracting a corrupted tar writes nothing outside the target and fails only with a PdError', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        async (flips) => {
          const b = Buffer.from(valid);
          for (const [at, v] of flips) b[at % b.length] = v;
          const jail = join(base, `x${n++}`);
          mkdirSync(jail);
          try {
            await extract(b, join(jail, 'root'));
          } catch (e) {
            expect(e).toBeInstanceOf(PdError);
          }
          expect(readdirSync(jail).filter((f) => f !== 'root')).toEqual([]);
          rmSync(jail, { recursive: true, force: true });
        },
      ),
      { numRuns: 60 },
    );
  });
});
