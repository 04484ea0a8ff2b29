import { describe, expect, test } from 'vitest';
import { containerEnv, DEFAULT_PATH, parseEnvFile, userEnvEntries } from './env.js';
import { InvalidOptionError } from './errors.js';

describe('container environment (docker order and rules)', () => {
  test('PATH and HOSTNAME first, user variables, then image variables not overridden', () => {
    const env = containerEnv({
      imageEnv: ['PATH=/img/bin', 'A=img', 'B=img'],
      userEnv: ['B=user', 'C=user'],
      hostname: 'h',
      tty: false,
    });
    expect(env).toEqual(['PATH=/img/bin', 'HOSTNAME=h', 'B=user', 'C=user', 'A=img']);
  });
  test('default PATH when the image has none; TERM with a tty', () => {
    expect(containerEnv({ imageEnv: [], userEnv: [], hostname: 'h', tty: true })).toEqual([
      DEFAULT_PATH,
      'HOSTNAME=h',
      'TERM=xterm',
    ]);
  });
  test('a bare name from the user removes the variable', () => {
    const env = containerEnv({ imageEnv: ['A=img'], userEnv: ['A', 'HOSTNAME'], hostname: 'h', tty: false });
    expect(env).toEqual([DEFAULT_PATH]);
  });
  test('-e K takes K from this process when set', () => {
    process.env.PD_RUNNER_TEST_VAR = 'from-host';
    expect(userEnvEntries(['PD_RUNNER_TEST_VAR', 'PD_RUNNER_UNSET_VAR', 'X=1'])).toEqual([
      'PD_RUNNER_TEST_VAR=from-host',
      'PD_RUNNER_UNSET_VAR',
      'X=1',
    ]);
    expect(userEnvEntries({ A: '1' })).toEqual(['A=1']);
    expect(() => userEnvEntries(['=x'])).toThrow(InvalidOptionError);
  });
  test('env files: comments, blank lines, leading blanks trimmed, values verbatim', () => {
    expect(parseEnvFile('# c\n\n  A=1\nB="q" \nC=x=y\r\n', 'f')).toEqual(['A=1', 'B="q" ', 'C=x=y']);
    expect(() => parseEnvFile('A B=1\n', 'f')).toThrow(/contains whitespaces/);
  });
});
