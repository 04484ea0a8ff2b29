import { tmpdir } from 'node:os';
import { describe, expect, test } from 'vitest';
import { InvalidOptionError } from './errors.js';
import { checkVolume, parseVolume } from './volumes.js';

describe('-v HOST:CONTAINER[:ro]', () => {
  test('parses the short form', () => {
    expect(parseVolume('/a:/b')).toEqual({ source: '/a', target: '/b', readOnly: false });
    expect(parseVolume('/a:/b:ro')).toEqual({ source: '/a', target: '/b', readOnly: true });
    expect(parseVolume('/a:/b:rw')).toEqual({ source: '/a', target: '/b', readOnly: false });
  });
  test('refuses named volumes, unknown options, the root and missing host paths', async () => {
    expect(() => parseVolume('data:/b')).toThrow(InvalidOptionError);
    expect(() => parseVolume('/a:/b:z')).toThrow(/unsupported option/);
    expect(() => parseVolume('/a')).toThrow(InvalidOptionError);
    await expect(checkVolume({ source: tmpdir(), target: '/' })).rejects.toThrow(/container root/);
    await expect(checkVolume({ source: '/no/such/dir/here', target: '/x' })).rejects.toThrow(
      /does not exist/,
    );
    await expect(checkVolume({ source: tmpdir(), target: '/x//y/' })).resolves.toMatchObject({
      target: '/x/y',
    });
  });
});
