import { describe, expect, it } from 'vitest';
import { PrefixTooLongError } from '../errors.js';
import { parseHasPrefix, replaceBinaryPrefix, replaceTextPrefix } from './prefix.js';

const P = '/placeholder/of/thirty/two/bytes';

describe('prefix rewriting', () => {
  it('replaces every text occurrence, changing the length', () => {
    const out = replaceTextPrefix(Buffer.from(`#!${P}/bin/sh\nexec ${P}/x ${P}\n`), P, '/opt/c');
    expect(out.toString()).toBe('#!/opt/c/bin/sh\nexec /opt/c/x /opt/c\n');
  });

  it('keeps binary files the same length, padding each C string with NULs', () => {
    const input = Buffer.concat([Buffer.from(`A\0${P}/lib:${P}/x\0B\0`), Buffer.from(`${P}`)]);
    const out = replaceBinaryPrefix(input, P, '/opt/c');
    expect(out.length).toBe(input.length);
    const first = '/opt/c/lib:/opt/c/x';
    expect(out.subarray(2, 2 + first.length).toString()).toBe(first);
    const end = input.indexOf(0, 2);
    expect([...out.subarray(2 + first.length, end + 1)].every((b) => b === 0)).toBe(true);
    expect(out.subarray(end + 1, end + 3).toString()).toBe('B\0');
    // A string running to the end of the file is padded to the end.
    expect(out.subarray(end + 3).toString()).toBe(`/opt/c${'\0'.repeat(P.length - 6)}`);
    expect(input.toString()).toContain(P); // the input is left alone
  });

  it('refuses a prefix longer than a binary placeholder', () => {
    expect(() => replaceBinaryPrefix(Buffer.from(`x${P}\0`), P, `${P}/longer`, 'lib/x.so')).toThrow(
      PrefixTooLongError,
    );
  });

  it('parses has_prefix lines, quoted fields and the legacy form', () => {
    expect(parseHasPrefix(`${P} text bin/a\n"${P}" binary "lib/with space.so"\nshare/legacy\n\n`)).toEqual([
      { placeholder: P, mode: 'text', path: 'bin/a' },
      { placeholder: P, mode: 'binary', path: 'lib/with space.so' },
      { placeholder: '/opt/anaconda1anaconda2anaconda3', mode: 'text', path: 'share/legacy' },
    ]);
  });
});
