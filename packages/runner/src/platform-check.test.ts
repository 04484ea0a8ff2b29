import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { PlatformNotRunnableError } from './errors.js';
import { checkRunnable } from './platform-check.js';

const amd64 = { os: 'linux', architecture: 'amd64' };
const arm64 = { os: 'linux', architecture: 'arm64', variant: 'v8' };

describe('checkRunnable', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pd-binfmt-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('the machine’s own platform, and one it runs natively, are native', async () => {
    expect(await checkRunnable(amd64, amd64, dir)).toBe('native');
    expect(await checkRunnable({ os: 'linux', architecture: 'arm', variant: 'v7' }, arm64, dir)).toBe(
      'native',
    );
    expect(await checkRunnable({}, amd64, dir)).toBe('native');
  });

  test('another platform without an emulator is refused, naming both and the way out', async () => {
    const e = await checkRunnable(arm64, amd64, dir).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PlatformNotRunnableError);
    expect((e as Error).message).toBe('a linux/arm64/v8 image cannot run on this linux/amd64 machine');
    expect((e as PlatformNotRunnableError).hint).toContain('qemu-user-static');
  });

  test('an enabled binfmt_misc handler makes it emulated; a disabled one does not', async () => {
    writeFileSync(join(dir, 'qemu-aarch64'), 'disabled\ninterpreter /usr/bin/qemu-aarch64-static\n');
    await expect(checkRunnable(arm64, amd64, dir)).rejects.toThrow(PlatformNotRunnableError);
    writeFileSync(join(dir, 'qemu-aarch64'), 'enabled\ninterpreter /usr/bin/qemu-aarch64-static\n');
    expect(await checkRunnable(arm64, amd64, dir)).toBe('emulated');
    await expect(checkRunnable({ os: 'windows', architecture: 'arm64' }, amd64, dir)).rejects.toThrow(
      PlatformNotRunnableError,
    );
  });
});
