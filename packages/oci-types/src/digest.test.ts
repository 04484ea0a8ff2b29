import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, test } from 'vitest';
import {
  createVerifier,
  DigestHasher,
  digestAlgorithm,
  digestHex,
  digestOf,
  digestStream,
  EMPTY_SHA256,
  isDigest,
  isRegisteredDigestAlgorithm,
  parseDigest,
  parseDigestSyntax,
  toDigest,
  verifyBytes,
} from './digest.js';
import {
  DigestMismatchError,
  InvalidDigestError,
  SizeMismatchError,
  UnsupportedDigestAlgorithmError,
} from './errors.js';

const hello = Buffer.from('hello world\n');
// sha256sum of "hello world\n", computed independently by coreutils.
const HELLO = 'sha256:a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447';

describe('parseDigest', () => {
  test('accepts sha256 and sha512', () => {
    expect(parseDigest(HELLO)).toEqual({ algorithm: 'sha256', hex: HELLO.slice(7) });
    const d512 = `sha512:${'0'.repeat(128)}`;
    expect(parseDigest(d512).algorithm).toBe('sha512');
    expect(isDigest(HELLO)).toBe(true);
    expect(toDigest(HELLO)).toBe(HELLO);
    expect(digestHex(HELLO)).toBe(HELLO.slice(7));
    expect(digestAlgorithm(HELLO)).toBe('sha256');
  });

  test.each([
    ['', /empty/],
    ['sha256', /algorithm:hex/],
    ['sha256:', /algorithm:hex/],
    [':abc', /algorithm:hex/],
    [`sha256:${'a'.repeat(63)}`, /needs 64 hex characters, got 63/],
    [`sha256:${'a'.repeat(65)}`, /needs 64 hex characters, got 65/],
    [`sha256:${'A'.repeat(64)}`, /lowercase/],
    [`sha256:${'g'.repeat(64)}`, /lowercase 0-9a-f/],
    [`sha512:${'a'.repeat(64)}`, /needs 128 hex characters/],
    [`md5:${'a'.repeat(32)}`, /unsupported algorithm "md5"/],
    [`SHA256:${'a'.repeat(64)}`, /algorithm:hex/],
    [`sha256+b64u:${'a'.repeat(64)}`, /unsupported algorithm "sha256\+b64u"/],
    [` ${HELLO}`, /algorithm:hex/],
  ])('refuses %j', (input, problem) => {
    expect(() => parseDigest(input)).toThrow(InvalidDigestError);
    expect(() => parseDigest(input)).toThrow(problem);
    expect(isDigest(input)).toBe(false);
  });

  test('isDigest is false for non-strings', () => {
    expect(isDigest(42)).toBe(false);
    expect(isDigest(undefined)).toBe(false);
  });
});

describe('digests of unregistered algorithms', () => {
  const MULTIHASH = 'multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8';
  const B64U = 'sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564';

  test('pass the grammar check (descriptor.md: implementations SHOULD allow them)', () => {
    expect(parseDigestSyntax(MULTIHASH)).toEqual({
      algorithm: 'multihash+base58',
      encoded: 'QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8',
      registered: false,
    });
    expect(parseDigestSyntax(`${B64U}=`).registered).toBe(false);
    expect(parseDigestSyntax(HELLO)).toEqual({
      algorithm: 'sha256',
      encoded: HELLO.slice(7),
      registered: true,
    });
    expect(isRegisteredDigestAlgorithm('sha512')).toBe(true);
    expect(isRegisteredDigestAlgorithm('sha256+b64u')).toBe(false);
  });

  test.each([
    ['sha256+foo+-b:abc', /algorithm:hex/],
    ['SHA256:abc', /algorithm:hex/],
    [`sha256:${'A'.repeat(64)}`, /lowercase/],
    [`sha512:${'a'.repeat(64)}`, /needs 128/],
    ['x:a/b', /algorithm:hex/],
  ])('the grammar and the registered encodings still hold: %j', (input, problem) => {
    expect(() => parseDigestSyntax(input)).toThrow(problem);
  });

  test('computing or verifying one throws UnsupportedDigestAlgorithmError naming the algorithm', async () => {
    for (const fn of [
      () => parseDigest(MULTIHASH),
      () => digestHex(B64U),
      () => verifyBytes(hello, MULTIHASH),
      () => createVerifier(B64U),
    ]) {
      let error: unknown;
      try {
        fn();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UnsupportedDigestAlgorithmError);
      expect(error).toBeInstanceOf(InvalidDigestError);
      expect((error as UnsupportedDigestAlgorithmError).code).toBe('UNSUPPORTED_DIGEST_ALGORITHM');
      expect((error as Error).message).toMatch(
        /^unsupported algorithm "(multihash\+base58|sha256\+b64u)" in digest/,
      );
    }
    expect(isDigest(MULTIHASH)).toBe(false);
  });
});

describe('computing digests', () => {
  test('digestOf bytes and strings', () => {
    expect(digestOf(hello)).toBe(HELLO);
    expect(digestOf('hello world\n')).toBe(HELLO);
    expect(digestOf(new Uint8Array())).toBe(EMPTY_SHA256);
    expect(digestOf(hello, 'sha512')).toBe(`sha512:${createHash('sha512').update(hello).digest('hex')}`);
  });

  test('DigestHasher counts bytes across chunks and is idempotent', () => {
    const h = new DigestHasher();
    h.update(hello.subarray(0, 5)).update(hello.subarray(5));
    expect(h.size).toBe(hello.length);
    expect(h.digest()).toBe(HELLO);
    expect(h.digest()).toBe(HELLO);
  });

  test('digestStream over a stream of chunks and strings', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 7, 0x61);
    const expected = digestOf(big);
    const chunks = Readable.from(
      (function* () {
        for (let i = 0; i < big.length; i += 65536) yield big.subarray(i, i + 65536);
      })(),
    );
    expect(await digestStream(chunks)).toEqual({ digest: expected, size: big.length });
    expect(await digestStream(Readable.from(['hello ', 'world\n']))).toEqual({ digest: HELLO, size: 12 });
  });
});

async function runVerifier(data: Buffer[], expected: string, size?: number): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(data),
    createVerifier(expected, { size, subject: 'test blob' }),
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        out.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

describe('createVerifier', () => {
  test('passes the bytes through when digest and size match', async () => {
    const out = await runVerifier([hello.subarray(0, 3), hello.subarray(3)], HELLO, hello.length);
    expect(out.equals(hello)).toBe(true);
    expect((await runVerifier([hello], HELLO)).equals(hello)).toBe(true);
  });

  test('wrong digest fails at the end', async () => {
    const err = await runVerifier([Buffer.from('hello world?')], HELLO).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as DigestMismatchError).expected).toBe(HELLO);
    expect((err as DigestMismatchError).actual).toBe(digestOf('hello world?'));
    expect((err as Error).message).toContain('test blob');
  });

  test('too long fails as soon as the size is passed', async () => {
    let pulled = 0;
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < 100; i++) {
          pulled++;
          yield Buffer.alloc(1024);
        }
      })(),
    );
    const err = await pipeline(
      source,
      createVerifier(EMPTY_SHA256, { size: 2048 }),
      new Writable({ write: (_c, _e, cb) => cb() }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SizeMismatchError);
    expect((err as SizeMismatchError).expected).toBe(2048);
    expect((err as SizeMismatchError).actual).toBe(3072);
    expect(pulled).toBeLessThan(100);
  });

  test('too short fails at the end', async () => {
    const err = await runVerifier([hello.subarray(0, 5)], HELLO, hello.length).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SizeMismatchError);
    expect((err as SizeMismatchError).actual).toBe(5);
  });

  test('refuses a malformed expected digest up front', () => {
    expect(() => createVerifier('sha256:nope')).toThrow(InvalidDigestError);
  });

  test('sha512 digests verify with sha512', async () => {
    const d = digestOf(hello, 'sha512');
    expect((await runVerifier([hello], d)).equals(hello)).toBe(true);
  });
});

describe('verifyBytes', () => {
  test('good, wrong digest, wrong size', () => {
    expect(() => verifyBytes(hello, HELLO, { size: 12 })).not.toThrow();
    expect(() => verifyBytes(hello, EMPTY_SHA256)).toThrow(DigestMismatchError);
    expect(() => verifyBytes(hello, HELLO, { size: 11 })).toThrow(SizeMismatchError);
  });
});
