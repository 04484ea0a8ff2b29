import type { Readable, Writable } from 'node:stream';
import type { OpenImageOptions, ProgressEvent } from '@pd/image';
import type { Digest } from '@pd/oci-types';

export type { ProgressEvent };

/**
 * What the runner did, for `--verbose` and for tests: one line of text plus machine-readable
 * fields. `kind` says which fields are present.
 */
export type RunnerEvent =
  | { kind: 'unpack'; message: string; diffId: Digest; bytes: number; ms: number }
  | { kind: 'cached'; message: string; diffId: Digest }
  | { kind: 'rootfs'; message: string; mode: RootfsMode; reason: string }
  | { kind: 'bundle'; message: string; dir: string; id: string }
  | { kind: 'exec'; message: string; argv: string[] }
  | { kind: 'signal'; message: string; signal: NodeJS.Signals }
  | { kind: 'docker'; message: string; loaded: boolean }
  | { kind: 'resolve'; message: string; ref: string; source: 'local' | 'registry' }
  | { kind: 'emulated'; message: string; platform: string }
  | { kind: 'warning'; message: string };

/**
 * How the container's root filesystem is assembled from the unpacked layers.
 * - `overlay`: an overlayfs mount (lower = cached layers, upper = the container's own directory),
 *   made in the container's own mount namespace (by runc from config.json, or by a script in a
 *   private namespace for crun) so nothing is left mounted on the host. Needs root.
 * - `copy`: the cached layers are copied into the bundle (reflinks where the filesystem has them;
 *   hardlinks for `readOnly` containers, whose files cannot be changed). Works everywhere.
 * - `auto` (default): overlay when possible, else copy.
 */
export type RootfsMode = 'overlay' | 'copy';

/** A bind mount: `-v /host:/container[:ro]`. */
export interface VolumeSpec {
  /** Absolute host path; must exist. */
  source: string;
  /** Absolute path in the container; created if missing. */
  target: string;
  readOnly?: boolean;
}

/** The runtimes pd knows by name (`RunOptions.runtime` also takes the path of an OCI runtime). */
export type RuntimeName = 'runc' | 'crun' | 'docker';

/**
 * When an image given by reference is asked of its registry (docker's `--pull`):
 * `missing` (default) only when this machine never resolved the reference, `always` every time
 * (the tag may have moved), `never` not at all (fails when the reference is not known locally).
 */
export type PullPolicy = 'missing' | 'always' | 'never';

/** Options of {@link run}; the CLI maps `pd run` flags onto them one for one. */
export interface RunOptions {
  /** Arguments after the image (`pd run IMAGE ARGS...`): replace the image's Cmd. */
  args?: string[];
  /**
   * `--entrypoint`: replaces the image's Entrypoint and drops its Cmd (docker's rule), so the
   * command becomes `entrypoint + args`. A string is one executable path (as docker takes it);
   * `''` or `[]` clears the entrypoint so that `args` alone are run.
   */
  entrypoint?: string | string[];
  /** `-e K=V` (or `-e K`, which copies K from this process's environment when set). Later wins. */
  env?: string[] | Record<string, string>;
  /** `--env-file`: files of `K=V` lines (`#` comments, blank lines and bare `K` as for `-e`), applied before `env`. */
  envFiles?: string[];
  /** `-w`: working directory in the container (absolute); created (root-owned, 0755) when missing. */
  workdir?: string;
  /**
   * `-u`: `user`, `uid`, `user:group`, `uid:gid` (and mixes), resolved through the image's
   * /etc/passwd and /etc/group like docker: supplementary groups come from /etc/group unless a
   * group is given. Default: the image's User, else root.
   */
  user?: string;
  /** `-v HOST:CONTAINER[:ro]` bind mounts (strings are parsed like docker's short form). */
  volumes?: Array<string | VolumeSpec>;
  /** `--read-only`: mount the root filesystem read-only. */
  readOnly?: boolean;
  /** `--name`: container id (letters, digits, `_.-`); default a random one. */
  name?: string;
  /** `--hostname`: default the first 12 characters of the container id (the host's name with `network: 'host'`). */
  hostname?: string;
  /** `--network`: `none` (default: a network namespace with loopback only) or `host`. */
  network?: 'none' | 'host';
  /** `-i`: connect stdin. Without it the container reads /dev/null, as with docker. */
  interactive?: boolean;
  /** `-t`: give the container a terminal (see README: how the pty is obtained). */
  tty?: boolean;
  /** `--memory`: memory limit, in bytes or with a binary unit as docker takes it (`512m`, `1g`). */
  memory?: number | string;
  /** `--cpus`: CPU time, in CPUs (`0.5`: half of one), as a CFS quota over a 100 ms period. */
  cpus?: number | string;
  /** `--pids-limit`: most processes (and threads) at once; -1 for no limit. */
  pidsLimit?: number;
  /** `--cap-add`: capabilities added to docker's default set (`NET_ADMIN`, `CAP_SYS_PTRACE`, `ALL`). */
  capAdd?: string[];
  /** `--cap-drop`: capabilities removed from it (`ALL` for all but those added). */
  capDrop?: string[];
  /** `--security-opt`: pd knows `no-new-privileges` (setuid files then give no privileges). */
  securityOpt?: string[];
  /** `--tmpfs PATH[:OPTIONS]`: a tmpfs at PATH (nosuid, nodev, noexec, then OPTIONS such as `size=64m`). */
  tmpfs?: string[];
  /** `--rm`: remove the container (its writable layer, bundle and runtime state) when it exits. */
  rm?: boolean;
  /** `--runtime`: `runc`, `crun`, `docker`, or a path to an OCI runtime. Default: runc, else crun on PATH. */
  runtime?: RuntimeName | (string & {});
  /** How to assemble the root filesystem (default `auto`); see {@link RootfsMode}. */
  rootfs?: RootfsMode | 'auto';
  /**
   * Seconds between forwarding SIGTERM/SIGINT to the container and killing it (SIGKILL), as
   * `docker stop -t`. Default 10. A second SIGINT/SIGTERM kills at once.
   */
  stopTimeout?: number;
  /** Forward SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 (and SIGWINCH with a tty) of this process. Default true. */
  forwardSignals?: boolean;
  /** Container stdin when `interactive`: default this process's stdin. */
  stdin?: Readable | 'inherit';
  /** Where the container's stdout goes: default this process's stdout. Streams are not ended. */
  stdout?: Writable | 'inherit';
  /** Where the container's stderr goes: default this process's stderr. Streams are not ended. */
  stderr?: Writable | 'inherit';
  /** For images given by reference: when to ask the registry (default `missing`). */
  pull?: PullPolicy;
  /**
   * The registry client for images given by reference (e.g. one allowed to reach an insecure
   * registry); default @pd/image's shared one.
   */
  client?: OpenImageOptions['client'];
  /** Platform to pick from a multi-platform image (default: this machine's). */
  platform?: string;
  /** pd's cache (unpacked layers, containers). Default `$PD_CACHE_DIR`, `$XDG_CACHE_HOME/pd` or `~/.cache/pd`. */
  cacheDir?: string;
  /** Docker engine for `runtime: 'docker'` (`unix:///...`, `tcp://...`); default the CLI's (DOCKER_HOST). */
  dockerHost?: string;
  /** Aborting stops the container like SIGTERM (then SIGKILL after `stopTimeout`). */
  signal?: AbortSignal;
  /** Progress of layer unpacking and of loading into docker. */
  onProgress?: (event: ProgressEvent) => void;
  /** What the runner does and decides (cache hits, unpacks, overlay vs copy, the runtime command). */
  onLog?: (event: RunnerEvent) => void;
}

/** How the container ended. */
export interface RunResult {
  /** The container's exit code; 128+n when it was killed by signal n (docker's convention). */
  exitCode: number;
  /** Set when the exit code says the process died of a signal (`exitCode` > 128 and a known signal number). */
  signal?: NodeJS.Signals;
  /** The container id (its `--name` when given). */
  id: string;
}
