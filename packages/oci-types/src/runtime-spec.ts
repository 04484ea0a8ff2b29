import {
  arrayOf,
  boolean,
  type Check,
  integer,
  mapOf,
  nonEmptyString,
  number,
  object,
  oneOf,
  optional,
  pattern,
  required,
  string,
  stringArray,
  stringMap,
  uint64,
  validateWith,
} from './validate.js';

// OCI runtime-spec config.json (the bundle config runc and crun read). Linux-centric: the
// Windows, Solaris, VM and z/OS sections are kept as they are, unchecked.

const uint32 = integer({ min: 0, max: 0xffff_ffff });
const absolutePath = pattern(/^\//, 'an absolute path');

/** The user a container process runs as: runtime-spec config.md `process.user`. */
export interface User {
  uid?: number;
  gid?: number;
  umask?: number;
  additionalGids?: number[];
  /** Windows. */
  username?: string;
}

/** The capability sets of a process (`CAP_*` names): runtime-spec config.md `process.capabilities`. */
export interface LinuxCapabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

/** A resource limit of a process: runtime-spec config.md `process.rlimits` entry. */
export interface POSIXRlimit {
  /** e.g. `RLIMIT_NOFILE`. */
  type: string;
  hard: number;
  soft: number;
}

/** The container process: runtime-spec config.md `process` (command, environment, user, limits). */
export interface Process {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: User;
  args?: string[];
  commandLine?: string;
  env?: string[];
  /** Absolute path of the working directory. */
  cwd: string;
  capabilities?: LinuxCapabilities;
  rlimits?: POSIXRlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
}

/** The container's root filesystem: runtime-spec config.md `root`. */
export interface Root {
  path: string;
  readonly?: boolean;
}

/** A range of user or group IDs mapped from the container to the host (runtime-spec config-linux.md). */
export interface IDMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** A mount of the container: runtime-spec config.md `mounts` entry. */
export interface Mount {
  destination: string;
  source?: string;
  type?: string;
  options?: string[];
  uidMappings?: IDMapping[];
  gidMappings?: IDMapping[];
}

/** The Linux namespace kinds of runtime-spec config-linux.md. */
export type LinuxNamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';

/** A namespace to create, or to join when `path` is set: runtime-spec config-linux.md `namespaces` entry. */
export interface LinuxNamespace {
  type: LinuxNamespaceType;
  path?: string;
}

/** A device node to create in the container: runtime-spec config-linux.md `devices` entry. */
export interface LinuxDevice {
  path: string;
  type: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

/** A device cgroup rule (allow or deny access): runtime-spec config-linux.md `resources.devices` entry. */
export interface LinuxDeviceCgroup {
  allow: boolean;
  type?: string;
  major?: number | null;
  minor?: number | null;
  access?: string;
}

/** Memory limits: runtime-spec config-linux.md `resources.memory`. */
export interface LinuxMemory {
  limit?: number;
  reservation?: number;
  swap?: number;
  kernel?: number;
  kernelTCP?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  checkBeforeUpdate?: boolean;
}

/** CPU shares, quotas and pinning: runtime-spec config-linux.md `resources.cpu`. */
export interface LinuxCPU {
  shares?: number;
  quota?: number;
  burst?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  cpus?: string;
  mems?: string;
  idle?: number;
}

/**
 * The cgroup settings of a container: runtime-spec config-linux.md `resources`. Block IO, hugepage,
 * network and RDMA settings are only checked to be objects.
 */
export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCPU;
  pids?: { limit: number };
  /** cgroup v2 files and values. */
  unified?: Record<string, string>;
  blockIO?: Record<string, unknown>;
  hugepageLimits?: Record<string, unknown>[];
  network?: Record<string, unknown>;
  rdma?: Record<string, unknown>;
}

/**
 * The Linux-specific part of a bundle config: runtime-spec config-linux.md (namespaces, ID mappings,
 * devices, cgroups, masked and read-only paths...). `seccomp` is only checked to be an object.
 */
export interface Linux {
  namespaces?: LinuxNamespace[];
  uidMappings?: IDMapping[];
  gidMappings?: IDMapping[];
  devices?: LinuxDevice[];
  cgroupsPath?: string;
  resources?: LinuxResources;
  rootfsPropagation?: string;
  seccomp?: Record<string, unknown>;
  sysctl?: Record<string, string>;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  timeOffsets?: Record<string, { secs?: number; nanosecs?: number }>;
}

/** A program the runtime runs at a point of a container's lifecycle: runtime-spec config.md `hooks` entry. */
export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

/** The hooks of a bundle config by lifecycle point: runtime-spec config.md `hooks`. */
export interface Hooks {
  prestart?: Hook[];
  createRuntime?: Hook[];
  createContainer?: Hook[];
  startContainer?: Hook[];
  poststart?: Hook[];
  poststop?: Hook[];
}

/**
 * A bundle's `config.json` (OCI runtime-spec config.md), as runc and crun read it. Linux-centric:
 * the Windows, Solaris, VM and z/OS sections are kept when present but not typed.
 */
export interface RuntimeSpec {
  /** Version of the runtime spec the bundle follows, e.g. `1.0.2-dev`. */
  ociVersion: string;
  process?: Process;
  root?: Root;
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  hooks?: Hooks;
  annotations?: Record<string, string>;
  linux?: Linux;
}

const checkIdMapping: Check<IDMapping> = object({
  containerID: required(uint32),
  hostID: required(uint32),
  size: required(uint32),
});

const capabilityList = arrayOf(pattern(/^CAP_[A-Z0-9_]+$/, 'a capability like CAP_CHOWN'));

const checkUser: Check<User> = object({
  uid: optional(uint32),
  gid: optional(uint32),
  umask: optional(uint32),
  additionalGids: optional(arrayOf(uint32)),
  username: optional(string),
});

const checkProcess: Check<Process> = object({
  terminal: optional(boolean),
  consoleSize: optional(object({ height: required(uint32), width: required(uint32) })),
  user: required(checkUser),
  args: optional(stringArray),
  commandLine: optional(string),
  env: optional(stringArray),
  cwd: required(absolutePath),
  capabilities: optional(
    object({
      bounding: optional(capabilityList),
      effective: optional(capabilityList),
      inheritable: optional(capabilityList),
      permitted: optional(capabilityList),
      ambient: optional(capabilityList),
    }),
  ),
  rlimits: optional(
    arrayOf(
      object({
        type: required(pattern(/^RLIMIT_[A-Z]+$/, 'a limit like RLIMIT_NOFILE')),
        hard: required(uint64),
        soft: required(uint64),
      }),
    ),
  ),
  noNewPrivileges: optional(boolean),
  apparmorProfile: optional(string),
  oomScoreAdj: optional(integer({ min: -1000, max: 1000 })),
  selinuxLabel: optional(string),
});

const checkMount: Check<Mount> = object({
  destination: required(nonEmptyString),
  source: optional(string),
  type: optional(string),
  options: optional(stringArray),
  uidMappings: optional(arrayOf(checkIdMapping)),
  gidMappings: optional(arrayOf(checkIdMapping)),
});

const checkHook: Check<Hook> = object({
  path: required(absolutePath),
  args: optional(stringArray),
  env: optional(stringArray),
  timeout: optional(integer({ min: 1 })),
});

const hookList = arrayOf(checkHook);

const anyObject = mapOf((v: unknown) => v);

const nullableDeviceNumber: Check<number | null> = (value, path, what) =>
  value === null ? null : integer()(value, path, what);

const checkLinux: Check<Linux> = object({
  namespaces: optional(
    arrayOf(
      object({
        type: required(oneOf(['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'] as const)),
        path: optional(string),
      }),
    ),
  ),
  uidMappings: optional(arrayOf(checkIdMapping)),
  gidMappings: optional(arrayOf(checkIdMapping)),
  devices: optional(
    arrayOf(
      object({
        path: required(absolutePath),
        type: required(oneOf(['c', 'b', 'u', 'p'] as const)),
        major: optional(integer()),
        minor: optional(integer()),
        fileMode: optional(uint32),
        uid: optional(uint32),
        gid: optional(uint32),
      }),
    ),
  ),
  cgroupsPath: optional(string),
  resources: optional(
    object({
      devices: optional(
        arrayOf(
          object({
            allow: required(boolean),
            type: optional(string),
            major: optional(nullableDeviceNumber),
            minor: optional(nullableDeviceNumber),
            access: optional(string),
          }),
        ),
      ),
      memory: optional(
        object({
          limit: optional(number),
          reservation: optional(number),
          swap: optional(number),
          kernel: optional(number),
          kernelTCP: optional(number),
          swappiness: optional(uint64),
          disableOOMKiller: optional(boolean),
          useHierarchy: optional(boolean),
          checkBeforeUpdate: optional(boolean),
        }),
      ),
      cpu: optional(
        object({
          shares: optional(uint64),
          quota: optional(number),
          burst: optional(uint64),
          period: optional(uint64),
          realtimeRuntime: optional(number),
          realtimePeriod: optional(uint64),
          cpus: optional(string),
          mems: optional(string),
          idle: optional(number),
        }),
      ),
      pids: optional(object({ limit: required(number) })),
      unified: optional(stringMap),
      blockIO: optional(anyObject),
      hugepageLimits: optional(arrayOf(anyObject)),
      network: optional(anyObject),
      rdma: optional(anyObject),
    }),
  ),
  rootfsPropagation: optional(
    oneOf([
      'private',
      'shared',
      'slave',
      'unbindable',
      'rprivate',
      'rshared',
      'rslave',
      'runbindable',
    ] as const),
  ),
  seccomp: optional(anyObject),
  sysctl: optional(stringMap),
  maskedPaths: optional(arrayOf(absolutePath)),
  readonlyPaths: optional(arrayOf(absolutePath)),
  mountLabel: optional(string),
  timeOffsets: optional(mapOf(object({ secs: optional(integer()), nanosecs: optional(uint32) }))),
});

/** The check behind `validateRuntimeSpec`, for composing into other checks. */
export const checkRuntimeSpec: Check<RuntimeSpec> = object({
  ociVersion: required(pattern(/^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?$/, 'a version like 1.0.2')),
  process: optional(checkProcess),
  root: optional(object({ path: required(nonEmptyString), readonly: optional(boolean) })),
  hostname: optional(string),
  domainname: optional(string),
  mounts: optional(arrayOf(checkMount)),
  hooks: optional(
    object({
      prestart: optional(hookList),
      createRuntime: optional(hookList),
      createContainer: optional(hookList),
      startContainer: optional(hookList),
      poststart: optional(hookList),
      poststop: optional(hookList),
    }),
  ),
  annotations: optional(stringMap),
  linux: optional(checkLinux),
});

/**
 * Validate a runtime-spec `config.json`; returns it typed or throws `ValidationError`. Paths such as
 * `process.cwd` and hook paths must be absolute; IDs are 32-bit unsigned.
 */
export function validateRuntimeSpec(value: unknown): RuntimeSpec {
  return validateWith(checkRuntimeSpec, value, 'runtime spec');
}
