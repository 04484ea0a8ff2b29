import { describe, expect, test } from 'vitest';
import { nextLink } from './tags.js';

describe('nextLink', () => {
  const base = new URL('https://r.example/v2/a/tags/list?n=10');
  test('relative and absolute targets', () => {
    expect(nextLink('</v2/a/tags/list?last=x&n=10>; rel="next"', base)?.href).toBe(
      'https://r.example/v2/a/tags/list?last=x&n=10',
    );
    expect(nextLink('<https://other.example/v2/_catalog?last=b>; rel=next', base)?.href).toBe(
      'https://other.example/v2/_catalog?last=b',
    );
  });
  test('only rel=next counts, among several links and relation lists', () => {
    expect(nextLink('</prev>; rel="prev", </n>; rel="next"', base)?.pathname).toBe('/n');
    expect(nextLink('</n>; rel="last next"', base)?.pathname).toBe('/n');
    expect(nextLink('</p>; rel="prev"', base)).toBeUndefined();
    expect(nextLink(undefined, base)).toBeUndefined();
  });
});
