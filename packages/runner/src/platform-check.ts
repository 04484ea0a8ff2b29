import { readFile } from 'node:fs/promises';
import { formatPlatform, hostPlatform, type Platform, platformMatches } from '@pd/oci-types';
import { PlatformNotRunnableError } from './errors.js';

/** qemu's names of the architectures it emulates (binfmt_misc registers `qemu-<name>`). */
const QEMU_NAMES: Record<string, string> = {
  amd64: 'x86_64',
  '386': 'i386',
  arm64: 'aarch64',
  arm: 'arm',
  ppc64le: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  mips64le: 'mips64el',
  loong64: 'loongarch64',
};

/** Where the kernel lists its registered binary formats. */
export const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';

/**
 * Throws `PlatformNotRunnableError` when `platform` cannot run here: not this machine's (nor one
 * it runs natively, as arm64 runs arm/v7) and no enabled binfmt_misc handler emulates it. A
 * config without os/architecture is let through, as runc would.
 */
export async function checkRunnable(
  platform: Partial<Platform>,
  host: Platform = hostPlatform(),
  binfmtDir = BINFMT_DIR,
): Promise<'native' | 'emulated'> {
  if (!platform.os || !platform.architecture) return 'native';
  const wanted = platform as Platform;
  if (platformMatches(host, wanted)) return 'native';
  if (wanted.os === host.os && (await emulated(wanted.architecture, binfmtDir))) return 'emulated';
  throw new PlatformNotRunnableError(formatPlatform(wanted), formatPlatform(host));
}

async function emulated(architecture: string, dir: string): Promise<boolean> {
  const name = QEMU_NAMES[architecture];
  if (!name) return false;
  try {
    const entry = await readFile(`${dir}/qemu-${name}`, 'utf8');
    return entry.split('\n')[0] === 'enabled';
  } catch {
    return false;
  }
}
