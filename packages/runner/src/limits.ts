import { readFileSync, statfsSync } from 'node:fs';
import type { LinuxResources, Mount } from '@pd/oci-types';
import { CgroupUnavailableError, InvalidOptionError, RootlessLimitError } from './errors.js';
import type { RunOptions } from './options.js';
import { DEFAULT_CAPABILITIES } from './spec.js';

// docker run's resource and privilege flags, turned into runtime-spec settings:
// --memory/--cpus/--pids-limit → linux.resources (the runtime writes them to the cgroup, v1 or v2),
// --cap-add/--cap-drop → process.capabilities, --security-opt no-new-privileges →
// process.noNewPrivileges, --tmpfs → tmpfs mounts.

/** Every capability of Linux up to 5.9 (CAP_CHECKPOINT_RESTORE, 40), by number. */
const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** The capabilities this kernel knows (`/proc/sys/kernel/cap_last_cap`): a runtime refuses others. */
function kernelCapabilities(): readonly string[] {
  try {
    const last = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
    if (Number.isInteger(last)) return ALL_CAPABILITIES.slice(0, last + 1);
  } catch {
    // no /proc: assume all
  }
  return ALL_CAPABILITIES;
}

function capName(option: string, name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return upper;
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!ALL_CAPABILITIES.includes(full))
    throw new InvalidOptionError(
      option,
      `unknown capability "${name}"`,
      'names as in capabilities(7): NET_ADMIN, SYS_PTRACE, ALL',
    );
  return full;
}

/**
 * docker's capability rules: the default set (spec.ts), `ALL` in `capAdd` for every capability,
 * `ALL` in `capDrop` for none but those added; a capability both added and dropped is added.
 */
export function capabilities(capAdd: readonly string[] = [], capDrop: readonly string[] = []): string[] {
  const add = capAdd.map((c) => capName('--cap-add', c));
  const drop = capDrop.map((c) => capName('--cap-drop', c));
  const known = kernelCapabilities();
  const caps = new Set<string>(
    add.includes('ALL') ? known : drop.includes('ALL') ? [] : DEFAULT_CAPABILITIES,
  );
  for (const c of drop) if (c !== 'ALL' && !add.includes(c)) caps.delete(c);
  for (const c of add) if (c !== 'ALL') caps.add(c);
  return ALL_CAPABILITIES.filter((c) => caps.has(c));
}

const MEMORY_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

/** docker's `--memory` sizes: a number of bytes, or with a binary unit `b`, `k`, `m`, `g`, `t` (`512m`). */
export function parseMemory(value: number | string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)b?$/i.exec(String(value).trim());
  const bytes = m ? Math.floor(Number(m[1]) * MEMORY_UNITS[m[2]!.toLowerCase()]!) : Number.NaN;
  // Below 6 MB the runtime cannot even start the container (docker's own minimum).
  if (!Number.isFinite(bytes) || bytes < 6 * 1024 * 1024)
    throw new InvalidOptionError('--memory', `"${value}"`, 'give a size of at least 6m: 64m, 1g, 536870912');
  return bytes;
}

/** The `linux.resources` limits asked for, or undefined when none is. */
export function resourceLimits(
  options: Pick<RunOptions, 'memory' | 'cpus' | 'pidsLimit'>,
): LinuxResources | undefined {
  const out: LinuxResources = {};
  if (options.memory !== undefined) out.memory = { limit: parseMemory(options.memory) };
  if (options.cpus !== undefined) {
    const cpus = Number(options.cpus);
    if (!Number.isFinite(cpus) || cpus <= 0)
      throw new InvalidOptionError('--cpus', `"${options.cpus}"`, 'give a positive number of CPUs: 0.5, 2');
    // docker's mapping: a quota of cpus × the period, in a 100 ms period.
    out.cpu = { quota: Math.round(cpus * 100_000), period: 100_000 };
  }
  if (options.pidsLimit !== undefined) {
    const n = Number(options.pidsLimit);
    if (!Number.isInteger(n) || n === 0)
      throw new InvalidOptionError(
        '--pids-limit',
        `"${options.pidsLimit}"`,
        'give a whole number (-1: unlimited)',
      );
    // docker: 0 or -1 is unlimited, which is what no setting is.
    if (n > 0) out.pids = { limit: n };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

const CGROUP2_MAGIC = 0x63677270;

/**
 * Make sure the machine has the cgroup controllers the limits need, before the runtime says so
 * obscurely. cgroup v2 (unified): the root's cgroup.controllers; v1 and hybrid: the controller's
 * own hierarchy under /sys/fs/cgroup. Rootless containers get no cgroup from pd at all.
 */
export function checkLimits(
  resources: LinuxResources | undefined,
  rootless: boolean,
  root = '/sys/fs/cgroup',
): void {
  if (!resources) return;
  const wanted: Array<[string, string]> = [];
  if (resources.memory) wanted.push(['memory', '--memory']);
  if (resources.cpu) wanted.push(['cpu', '--cpus']);
  if (resources.pids) wanted.push(['pids', '--pids-limit']);
  if (rootless) throw new RootlessLimitError(`resource limits (${wanted.map(([, o]) => o).join(', ')})`);
  let have: (c: string) => boolean;
  let version: string;
  try {
    if (statfsSync(root).type === CGROUP2_MAGIC) {
      version = 'cgroup v2';
      const list = new Set(readFileSync(`${root}/cgroup.controllers`, 'utf8').trim().split(/\s+/));
      have = (c) => list.has(c);
    } else {
      version = 'cgroup v1';
      have = (c) => {
        try {
          return statfsSync(`${root}/${c}`).type !== statfsSync(root).type;
        } catch {
          return false;
        }
      };
    }
  } catch {
    throw new CgroupUnavailableError(wanted[0]![1], wanted[0]![0], `no cgroup file system at ${root}`);
  }
  for (const [controller, option] of wanted)
    if (!have(controller))
      throw new CgroupUnavailableError(
        option,
        controller,
        `this machine's ${version} has no ${controller} controller`,
      );
}

/** `--tmpfs /path[:options]` as docker mounts it: nosuid, nodev, noexec, then the options given. */
export function tmpfsMount(spec: string): Mount {
  const i = spec.indexOf(':');
  const destination = i < 0 ? spec : spec.slice(0, i);
  const options =
    i < 0
      ? []
      : spec
          .slice(i + 1)
          .split(',')
          .filter(Boolean);
  if (!destination.startsWith('/'))
    throw new InvalidOptionError(
      '--tmpfs',
      `"${spec}": the path must be absolute`,
      'e.g. --tmpfs /run:size=64m',
    );
  return { destination, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', ...options] };
}

/** `--security-opt` values pd knows: `no-new-privileges` (`[:=]true|false`). */
export function noNewPrivileges(securityOpt: readonly string[] = []): boolean {
  let on = false;
  for (const opt of securityOpt) {
    const m = /^no-new-privileges(?:[:=](true|false))?$/.exec(opt.trim());
    if (!m)
      throw new InvalidOptionError(
        '--security-opt',
        `"${opt}" is not supported`,
        'pd knows no-new-privileges (seccomp and AppArmor profiles are not applied, see the README)',
      );
    on = m[1] !== 'false';
  }
  return on;
}
