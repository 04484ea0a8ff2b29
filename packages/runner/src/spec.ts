import type { LinuxResources, Mount, RuntimeSpec } from '@pd/oci-types';
import { validateRuntimeSpec } from '@pd/oci-types';
import type { VolumeSpec } from './options.js';
import type { ResolvedUser } from './user.js';
import { type IdRange, rangeOfContainerId } from './userns.js';

// config.json with docker's defaults (moby oci/defaults.go and daemon/oci_linux.go, checked
// against the config.json docker 20.10 hands to runc): capabilities, mounts, masked and
// read-only paths, the devices cgroup, the netns sysctls. Not copied from docker: the seccomp
// profile and AppArmor (see README, "Differences from docker run").

/** The capabilities docker gives a container by default. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Paths hidden from the container (docker's defaults). */
export const MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
];

/** Paths mounted read-only in the container (docker's defaults). */
export const READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

export interface SpecInput {
  /** A mount of `/` listed first (an overlay the runtime mounts itself). */
  rootMount?: Mount;
  args: string[];
  env: string[];
  cwd: string;
  user: ResolvedUser;
  hostname: string;
  /** Cgroup path for root containers (`/pd/<id>`). */
  cgroupsPath?: string;
  terminal: boolean;
  consoleSize?: { height: number; width: number };
  readOnly: boolean;
  network: 'none' | 'host';
  /** Root directory, relative to the bundle (or absolute). */
  rootPath: string;
  /** Host files bind-mounted over /etc/hosts, /etc/hostname and /etc/resolv.conf. */
  etc: { hosts: string; hostname: string; resolvConf: string };
  volumes: VolumeSpec[];
  /**
   * Set for a rootless container: this host uid/gid become root inside, and `uids`/`gids` (when
   * given) are the whole mapping, subordinate ranges included (see userns.ts).
   */
  rootless?: { uid: number; gid: number; uids?: IdRange[]; gids?: IdRange[] };
  /** The capability set (default docker's, {@link DEFAULT_CAPABILITIES}). */
  capabilities?: readonly string[];
  noNewPrivileges?: boolean;
  /** Mounts after all the others (`--tmpfs`). */
  extraMounts?: Mount[];
  /** cgroup limits (memory, cpu, pids) beside the device rules; root containers only. */
  limits?: LinuxResources;
}

/** How many container gids, from 0 up, a rootless mapping covers without a gap. */
function groupsMapped(r: NonNullable<SpecInput['rootless']>): number {
  let n = 0;
  let range = rangeOfContainerId(r.gids, n);
  while (range) {
    n = range.containerID + range.size;
    range = rangeOfContainerId(r.gids, n);
  }
  return Math.max(n, 1);
}

function bind(source: string, destination: string, readOnly: boolean): Mount {
  return { destination, type: 'bind', source, options: ['rbind', 'rprivate', ...(readOnly ? ['ro'] : [])] };
}

/** The bundle's config.json, validated with @pd/oci-types. */
export function buildSpec(input: SpecInput): RuntimeSpec {
  const rootless = input.rootless;
  const caps = [...(input.capabilities ?? DEFAULT_CAPABILITIES)];
  const mounts: Mount[] = [
    ...(input.rootMount ? [input.rootMount] : []),
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      // gid=5 (tty) cannot be set from a user namespace that maps only one group.
      options: [
        'nosuid',
        'noexec',
        'newinstance',
        'ptmxmode=0666',
        'mode=0620',
        ...(rootless && !rangeOfContainerId(rootless.gids, 5) ? [] : ['gid=5']),
      ],
    },
    // sysfs belongs to the network namespace that mounts it: with the host network, or without
    // root, the host's /sys is bound read-only instead (as `runc spec --rootless` does).
    input.network === 'host' || rootless
      ? {
          destination: '/sys',
          type: 'none',
          source: '/sys',
          options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'],
        }
      : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ...(rootless
      ? []
      : [
          {
            destination: '/sys/fs/cgroup',
            type: 'cgroup',
            source: 'cgroup',
            options: ['ro', 'nosuid', 'noexec', 'nodev'],
          },
        ]),
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=67108864'],
    },
    // docker makes these read-only together with the root filesystem.
    bind(input.etc.resolvConf, '/etc/resolv.conf', input.readOnly),
    bind(input.etc.hostname, '/etc/hostname', input.readOnly),
    bind(input.etc.hosts, '/etc/hosts', input.readOnly),
    ...input.volumes.map((v) => bind(v.source, v.target, v.readOnly === true)),
    ...(input.extraMounts ?? []),
  ];

  const namespaces: Array<{ type: 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' }> = [
    { type: 'mount' },
    ...(input.network === 'none' ? [{ type: 'network' as const }] : []),
    { type: 'uts' },
    { type: 'pid' },
    { type: 'ipc' },
    ...(rootless ? [{ type: 'user' as const }] : []),
  ];

  const spec: RuntimeSpec = {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: input.terminal,
      ...(input.terminal && input.consoleSize ? { consoleSize: input.consoleSize } : {}),
      user: {
        uid: input.user.uid,
        gid: input.user.gid,
        ...(input.user.additionalGids.length > 0 ? { additionalGids: input.user.additionalGids } : {}),
      },
      args: input.args,
      env: input.env,
      cwd: input.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: input.noNewPrivileges === true,
    },
    root: { path: input.rootPath, readonly: input.readOnly },
    hostname: input.hostname,
    mounts,
    linux: {
      namespaces,
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
      ...(input.network === 'none'
        ? {
            sysctl: {
              'net.ipv4.ip_unprivileged_port_start': '0',
              // Only mapped groups may be named: in a rootless container that is group 0 alone.
              'net.ipv4.ping_group_range': rootless ? `0 ${groupsMapped(rootless) - 1}` : '0 2147483647',
            },
          }
        : {}),
      ...(rootless
        ? {
            uidMappings: rootless.uids ?? [{ containerID: 0, hostID: rootless.uid, size: 1 }],
            gidMappings: rootless.gids ?? [{ containerID: 0, hostID: rootless.gid, size: 1 }],
          }
        : {
            ...(input.cgroupsPath ? { cgroupsPath: input.cgroupsPath } : {}),
            resources: {
              ...input.limits,
              // Deny device access but for the few docker allows: CAP_MKNOD must not reach host disks.
              devices: [
                { allow: false, access: 'rwm' },
                { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
                { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
                { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
                { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
                { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
                { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
                { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' },
              ],
            },
          }),
    },
  };
  return validateRuntimeSpec(spec);
}
