import { describe, expect, it } from 'vitest';
import { readEnvironmentYml } from './environment-yml.js';
import { EnvironmentFileError, PipNotSupportedError } from './errors.js';

describe('readEnvironmentYml', () => {
  it('reads name, channels, dependencies and variables', async () => {
    const env = await readEnvironmentYml(
      'environment.yml',
      'name: ds\nchannels:\n  - conda-forge\n  - defaults\ndependencies:\n  - python=3.12\n  - numpy >=1.26\n  - conda-forge::flask\n  - pip\nvariables:\n  MODE: prod\n  N: 3\n',
    );
    expect(env).toEqual({
      name: 'ds',
      channels: ['conda-forge', 'defaults'],
      dependencies: ['python=3.12', 'numpy >=1.26', 'conda-forge::flask', 'pip'],
      variables: { MODE: 'prod', N: '3' },
    });
  });

  it('refuses pip sections and malformed files with the field named', async () => {
    await expect(
      readEnvironmentYml('e.yml', 'dependencies:\n  - pip:\n      - a\n      - b\n'),
    ).rejects.toEqual(new PipNotSupportedError(['a', 'b']));
    await expect(readEnvironmentYml('e.yml', 'channels: conda-forge\ndependencies: [x]\n')).rejects.toThrow(
      'invalid e.yml: channels: expected a list',
    );
    await expect(readEnvironmentYml('e.yml', 'dependencies:\n  - {a: 1}\n')).rejects.toThrow(
      'invalid e.yml: dependencies[0]: expected a package spec',
    );
    await expect(readEnvironmentYml('e.yml', 'name: x\n')).rejects.toBeInstanceOf(EnvironmentFileError);
  });
});
