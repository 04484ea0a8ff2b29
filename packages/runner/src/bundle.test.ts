import { describe, expect, test } from 'vitest';
import { commandLine } from './bundle.js';
import { NoCommandError } from './errors.js';

describe('Entrypoint and Cmd (docker rules)', () => {
  const image = { Entrypoint: ['/ep'], Cmd: ['default'] };
  test('entrypoint + cmd; args replace cmd', () => {
    expect(commandLine(image, {})).toEqual(['/ep', 'default']);
    expect(commandLine(image, { args: ['a'] })).toEqual(['/ep', 'a']);
    expect(commandLine({ Cmd: ['c', 'd'] }, {})).toEqual(['c', 'd']);
  });
  test('--entrypoint drops the image Cmd', () => {
    expect(commandLine(image, { entrypoint: 'echo' })).toEqual(['echo']);
    expect(commandLine(image, { entrypoint: 'echo', args: ['x'] })).toEqual(['echo', 'x']);
    expect(commandLine(image, { entrypoint: ['sh', '-c'], args: ['x'] })).toEqual(['sh', '-c', 'x']);
    expect(commandLine(image, { entrypoint: '', args: ['ls'] })).toEqual(['ls']);
  });
  test('nothing to run is an error', () => {
    expect(() => commandLine(image, { entrypoint: '' })).toThrow(NoCommandError);
    expect(() => commandLine({ Entrypoint: null, Cmd: null }, {})).toThrow(NoCommandError);
  });
});
