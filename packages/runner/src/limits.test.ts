import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { CgroupUnavailableError, InvalidOptionError, RootlessLimitError } from './errors.js';
import {
  capabilities,
  checkLimits,
  noNewPrivileges,
  parseMemory,
  resourceLimits,
  tmpfsMount,
} from './limits.js';
import { DEFAULT_CAPABILITIES } from './spec.js';

describe('docker run limits and privileges as runtime-spec settings', () => {
  test('memory sizes in docker’s binary units; cpus as a quota over 100 ms; pids', () => {
    expect(parseMemory('512m')).toBe(512 * 1024 * 1024);
    expect(parseMemory('1g')).toBe(1024 ** 3);
    expect(parseMemory('1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseMemory(67108864)).toBe(67108864);
    expect(() => parseMemory('1k')).toThrow(InvalidOptionError);
    expect(() => parseMemory('lots')).toThrow(InvalidOptionError);
    expect(resourceLimits({ memory: '64m', cpus: '0.5', pidsLimit: 50 })).toEqual({
      memory: { limit: 64 * 1024 * 1024 },
      cpu: { quota: 50_000, period: 100_000 },
      pids: { limit: 50 },
    });
    expect(resourceLimits({ pidsLimit: -1 })).toBeUndefined();
    expect(resourceLimits({})).toBeUndefined();
    expect(() => resourceLimits({ cpus: '0' })).toThrow(InvalidOptionError);
  });

  test('capabilities follow docker’s add/drop rules', () => {
    expect(capabilities()).toEqual(expect.arrayContaining([...DEFAULT_CAPABILITIES]));
    expect(capabilities().length).toBe(DEFAULT_CAPABILITIES.length);
    expect(capabilities(['net_admin'], ['CAP_CHOWN'])).toContain('CAP_NET_ADMIN');
    expect(capabilities(['net_admin'], ['CAP_CHOWN'])).not.toContain('CAP_CHOWN');
    expect(capabilities(['NET_ADMIN'], ['ALL'])).toEqual(['CAP_NET_ADMIN']);
    expect(capabilities(['ALL'], ['MKNOD'])).toContain('CAP_SYS_ADMIN');
    expect(capabilities(['ALL'], ['MKNOD'])).not.toContain('CAP_MKNOD');
    expect(() => capabilities(['FOO'])).toThrow(InvalidOptionError);
  });

  test('tmpfs mounts and no-new-privileges', () => {
    expect(tmpfsMount('/run:size=64m,mode=1777')).toEqual({
      destination: '/run',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'nodev', 'noexec', 'size=64m', 'mode=1777'],
    });
    expect(() => tmpfsMount('run')).toThrow(InvalidOptionError);
    expect(noNewPrivileges(['no-new-privileges'])).toBe(true);
    expect(noNewPrivileges(['no-new-privileges:false'])).toBe(false);
    expect(noNewPrivileges([])).toBe(false);
    expect(() => noNewPrivileges(['seccomp=unconfined'])).toThrow(InvalidOptionError);
  });

  test('a machine without the controller gets a clear error; so does a rootless run', () => {
    // A directory where no cgroup hierarchy is mounted: what a host without cgroups looks like.
    const empty = mkdtempSync(join(tmpdir(), 'pd-no-cgroup-'));
    try {
      const limits = resourceLimits({ memory: '64m' });
      const err = (() => {
        try {
          checkLimits(limits, false, empty);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(CgroupUnavailableError);
      expect((err as CgroupUnavailableError).message).toMatch(
        /^--memory cannot be enforced: .*no memory controller/,
      );
      expect(() => checkLimits(limits, true)).toThrow(RootlessLimitError);
      expect(() => checkLimits(undefined, false, empty)).not.toThrow();
      // This machine's own cgroups have them (the integration tests use them).
      expect(() =>
        checkLimits(resourceLimits({ memory: '64m', cpus: 1, pidsLimit: 10 }), false),
      ).not.toThrow();
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
