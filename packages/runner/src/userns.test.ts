import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { subordinateRange, toContainerId, toHostId } from './userns.js';

describe('subordinate ids', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pd-subuid-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'subuid');
  writeFileSync(
    file,
    [
      '# comment',
      'alice:100000:65536',
      'bob:165536:1000',
      '1002:200000:10',
      'bob:300000:5',
      'eve:x:1',
      '',
    ].join('\n'),
  );

  test('the first range of the user, by name or by uid', () => {
    expect(subordinateRange(file, 'alice', 1001)).toEqual({ start: 100000, size: 65536 });
    expect(subordinateRange(file, 'bob', 1003)).toEqual({ start: 165536, size: 1000 });
    expect(subordinateRange(file, 'carol', 1002)).toEqual({ start: 200000, size: 10 });
    expect(subordinateRange(file, 'eve', 1004)).toBeUndefined();
    expect(subordinateRange(file, 'dan', 1005)).toBeUndefined();
    expect(subordinateRange(join(dir, 'missing'), 'alice', 1001)).toBeUndefined();
  });

  test('ids translate both ways through the mapping, and not beyond it', () => {
    const ranges = [
      { containerID: 0, hostID: 1001, size: 1 },
      { containerID: 1, hostID: 100000, size: 65536 },
    ];
    expect(toContainerId(ranges, 1001)).toBe(0);
    expect(toContainerId(ranges, 100999)).toBe(1000);
    expect(toContainerId(ranges, 1000)).toBeUndefined();
    expect(toContainerId(ranges, 165536)).toBeUndefined();
    expect(toHostId(ranges, 0)).toBe(1001);
    expect(toHostId(ranges, 65536)).toBe(165535);
    expect(toHostId(ranges, 65537)).toBeUndefined();
  });
});
