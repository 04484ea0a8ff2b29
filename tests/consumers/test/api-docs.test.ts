import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkPackage, libraryDirs, summary } from '../../../scripts/api-docs.mjs';

describe.each(libraryDirs().map((dir) => [basename(dir), dir]))('@pd/%s API documentation', (_, dir) => {
  const result = checkPackage(dir);

  it('every export has a TSDoc comment', () => {
    expect(result.undocumented).toEqual([]);
  });

  it("the README's API reference lists every export as the sources describe it (node scripts/api-docs.mjs)", () => {
    expect(result.stale).toBe(false);
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toContain('## API reference');
  });
});

describe('the summary of a comment', () => {
  it('is its first sentence, on one line, with code spans and table pipes kept intact', () => {
    expect(summary('Reads `a.b` and\nwrites it. Then more.\n\nSecond paragraph.')).toBe(
      'Reads `a.b` and writes it.',
    );
    expect(summary('A | B choice')).toBe('A \\| B choice');
    expect(summary('A name, e.g. `x`, or i.e. one. Not this.')).toBe('A name, e.g. `x`, or i.e. one.');
    expect(summary('No full stop')).toBe('No full stop');
    expect(summary('Matches `a?b!` here. Not this.')).toBe('Matches `a?b!` here.');
    expect(summary('Wraps {@link Image} in {@link Layer | layers}. More.')).toBe('Wraps `Image` in layers.');
  });
});
