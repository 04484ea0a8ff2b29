import { describe, expect, it } from 'vitest';
import { globMatcher } from './glob.js';

describe('globMatcher', () => {
  it('matches base names anywhere without a slash, paths from the root with one', () => {
    const m = globMatcher(['*.a', 'share/doc', 'lib/**/*.js.map', 'x?.txt']);
    expect(m('lib/libz.a')).toBe(true);
    expect(m('libz.a')).toBe(true);
    expect(m('lib/libz.so')).toBe(false);
    expect(m('share/doc')).toBe(true);
    expect(m('share/doc/README')).toBe(true);
    expect(m('other/share/doc')).toBe(false);
    expect(m('lib/node/a/b.js.map')).toBe(true);
    expect(m('lib/b.js.map')).toBe(true);
    expect(m('lib/b.js')).toBe(false);
    expect(m('x1.txt')).toBe(true);
    expect(m('x12.txt')).toBe(false);
    expect(m('a.b')).toBe(false);
  });
});
