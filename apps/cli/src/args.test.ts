import { describe, expect, it } from 'vitest';
import { GLOBAL_OPTIONS, parseCommandArgs } from './args.js';
import type { OptionTable } from './command.js';
import { UsageError } from './output/errors.js';

const RUN_OPTIONS = {
  ...GLOBAL_OPTIONS,
  env: { type: 'string', short: 'e', multiple: true, description: '' },
  interactive: { type: 'boolean', short: 'i', description: '' },
  tty: { type: 'boolean', short: 't', description: '' },
  workdir: { type: 'string', short: 'w', description: '' },
} as const satisfies OptionTable;

describe('parseCommandArgs', () => {
  it('collects repeated options and names positionals', () => {
    const p = parseCommandArgs(['-e', 'A=1', '--env=B=2', 'img', '-eC=3'], RUN_OPTIONS, [{ name: 'IMAGE' }]);
    expect(p.values.env).toEqual(['A=1', 'B=2', 'C=3']);
    expect(p.args).toEqual({ IMAGE: 'img' });
  });

  it('stops at the image like docker run: later words, options included, are the command', () => {
    const p = parseCommandArgs(
      ['-it', '-w', '/x', 'busybox', 'ls', '-la', '--json'],
      RUN_OPTIONS,
      [{ name: 'IMAGE' }, { name: 'CMD', required: false, variadic: true }],
      'IMAGE',
    );
    expect(p.values.interactive).toBe(true);
    expect(p.values.tty).toBe(true);
    expect(p.values.workdir).toBe('/x');
    expect(p.values.json).toBeUndefined();
    expect(p.args.IMAGE).toBe('busybox');
    expect(p.rest).toEqual(['ls', '-la', '--json']);
    const dashes = parseCommandArgs(
      ['busybox', '--', 'sh', '-c', 'x'],
      RUN_OPTIONS,
      [{ name: 'IMAGE' }, { name: 'CMD', required: false, variadic: true }],
      'IMAGE',
    );
    expect(dashes.rest).toEqual(['sh', '-c', 'x']);
  });

  it('rejects what is not in the table, without echoing values', () => {
    const err = (argv: string[]) => {
      try {
        parseCommandArgs(argv, RUN_OPTIONS, [{ name: 'IMAGE' }]);
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(err(['--nope', 'x'])).toBe('unknown option --nope');
    expect(err(['-w'])).toBe('option -w needs a value (VALUE)');
    expect(err(['--tty=yes', 'x'])).toBe('option --tty takes no value');
    expect(err([])).toBe('missing argument IMAGE');
    expect(err(['a', 'secret-value'])).toBe('too many arguments (expected at most 1, got 2)');
    expect(err(['a', '--', 'secret-value'])).toBe('too many arguments (nothing is expected after --)');
  });
});
