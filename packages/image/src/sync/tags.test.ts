import { describe, expect, test } from 'vitest';
import { InvalidMutationError } from '../errors.js';
import { tagMatcher } from './tags.js';

const TAGS = ['latest', '1.0', '1.2.3', 'v1.4.0', '2.0.0', '2.0.0-rc.1', '3.19', 'edge', '1.2.3-alpine'];
const pick = async (filter: Parameters<typeof tagMatcher>[0]) => TAGS.filter(await tagMatcher(filter));

describe('tagMatcher', () => {
  test('no filter takes every tag; exact tags, regex and semver narrow it, together', async () => {
    expect(await pick({})).toEqual(TAGS);
    expect(await pick({ tags: ['edge', 'latest'] })).toEqual(['latest', 'edge']);
    expect(await pick({ tagRegex: '^1\\.' })).toEqual(['1.0', '1.2.3', '1.2.3-alpine']);
    expect(await pick({ semver: '>=1.2.0 <2' })).toEqual(['1.2.3', 'v1.4.0']);
    expect(await pick({ semver: '^3.19' })).toEqual(['3.19']);
    expect(await pick({ semver: '>=2', tagRegex: '^2' })).toEqual(['2.0.0']);
  });

  test('a prerelease or a suffixed tag is no version of a plain range', async () => {
    expect(await pick({ semver: '>=2.0.0-0' })).toContain('2.0.0-rc.1');
    expect(await pick({ semver: '>=1' })).not.toContain('2.0.0-rc.1');
    expect(await pick({ semver: '*' })).not.toContain('latest');
  });

  test('a bad regex or range is refused before anything moves', async () => {
    await expect(tagMatcher({ tagRegex: '(' })).rejects.toThrow(InvalidMutationError);
    await expect(tagMatcher({ semver: 'not a range!' })).rejects.toThrow(/is not a semver range/);
  });
});
