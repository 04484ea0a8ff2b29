import { describe, expect, it } from 'vitest';
import { EnvironmentFileError } from './errors.js';
import { explicitLockfilePlatform, readExplicitLockfile } from './explicit-lockfile.js';

const SHA = 'a'.repeat(64);
const MD5 = 'b'.repeat(32);

describe('readExplicitLockfile', () => {
  it('reads URLs with md5 or sha256 checksums', async () => {
    const text = [
      '# platform: linux-64',
      '@EXPLICIT',
      `https://conda.anaconda.org/conda-forge/linux-64/libzlib-1.3.1-hb9d3cd8_2.conda#${MD5}`,
      `https://conda.anaconda.org/conda-forge/noarch/tzdata-2024a-h0c530f3_0.conda#sha256:${SHA}`,
      'https://example.org/ch/linux-64/python-dateutil-2.9.0-pyhd8ed1ab_0.tar.bz2',
    ].join('\n');
    const records = await readExplicitLockfile('lock.txt', text);
    expect(records.map((r) => [r.name, r.version, r.build, r.subdir, r.channel, r.md5, r.sha256])).toEqual([
      [
        'libzlib',
        '1.3.1',
        'hb9d3cd8_2',
        'linux-64',
        'https://conda.anaconda.org/conda-forge',
        MD5,
        undefined,
      ],
      ['tzdata', '2024a', 'h0c530f3_0', 'noarch', 'https://conda.anaconda.org/conda-forge', undefined, SHA],
      [
        'python-dateutil',
        '2.9.0',
        'pyhd8ed1ab_0',
        'linux-64',
        'https://example.org/ch',
        undefined,
        undefined,
      ],
    ]);
    expect(records[0]!.buildNumber).toBe(2);
  });

  it('explains what is wrong', async () => {
    await expect(readExplicitLockfile('l.txt', 'numpy\n')).rejects.toThrow(
      'invalid l.txt: line 1: package before @EXPLICIT',
    );
    await expect(readExplicitLockfile('l.txt', '# nothing\n')).rejects.toThrow(
      'invalid l.txt: no @EXPLICIT line',
    );
    await expect(
      readExplicitLockfile('l.txt', '@EXPLICIT\nhttps://x/linux-64/a-1-0.conda#zz\n'),
    ).rejects.toThrow('line 2: unknown checksum zz');
    await expect(readExplicitLockfile('l.txt', '@EXPLICIT\nhttps://x/a.txt\n')).rejects.toBeInstanceOf(
      EnvironmentFileError,
    );
  });
});

describe('explicitLockfilePlatform', () => {
  it('the platform header, else the one subdir of the packages, else undefined', async () => {
    const url = (subdir: string, name: string) =>
      `https://conda.anaconda.org/conda-forge/${subdir}/${name}-1.0-h0_0.conda`;
    expect(
      await explicitLockfilePlatform(
        'x.txt',
        `# platform: linux-aarch64\n@EXPLICIT\n${url('linux-64', 'a')}\n`,
      ),
    ).toBe('linux-aarch64');
    expect(
      await explicitLockfilePlatform('x.txt', `@EXPLICIT\n${url('linux-64', 'a')}\n${url('noarch', 'b')}\n`),
    ).toBe('linux-64');
    expect(await explicitLockfilePlatform('x.txt', `@EXPLICIT\n${url('noarch', 'b')}\n`)).toBeUndefined();
  });
});
