import type { Digest } from './digest.js';
import {
  arrayOf,
  boolean,
  type Check,
  childPath,
  describeValue,
  digest,
  fail,
  integer,
  literal,
  nonEmptyString,
  nullable,
  object,
  objectMap,
  optional,
  pattern,
  required,
  string,
  stringArray,
  stringMap,
  timestamp,
  validateWith,
} from './validate.js';

/**
 * Docker's HEALTHCHECK settings in an image config. Durations are nanoseconds. `Test` is `["NONE"]`,
 * `["CMD", ...]` or `["CMD-SHELL", cmd]`.
 */
export interface HealthConfig {
  Test?: string[] | null;
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/**
 * How to run a container from the image: the OCI `config` object plus the fields Docker writes.
 * Docker serializes empty lists and maps as `null`, so those fields accept it.
 */
export interface ContainerConfig {
  User?: string;
  /** Keys are `port/proto` (`80/tcp`, `53/udp`) or a bare port; values are `{}`. */
  ExposedPorts?: Record<string, Record<string, unknown>> | null;
  /** `NAME=value` entries. */
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  /** Keys are absolute paths; values are `{}`. */
  Volumes?: Record<string, Record<string, unknown>> | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  // Docker-only fields.
  Healthcheck?: HealthConfig | null;
  OnBuild?: string[] | null;
  Shell?: string[] | null;
  Hostname?: string;
  Domainname?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Image?: string;
  NetworkDisabled?: boolean;
  MacAddress?: string;
  StopTimeout?: number | null;
}

/**
 * The image config's `rootfs` (image-spec config.md): digests of the uncompressed layers, in the
 * manifest's order.
 */
export interface RootFs {
  type: 'layers';
  /** Digests of the uncompressed layer tars, base layer first. */
  diff_ids: Digest[];
}

/**
 * One entry of the image config's `history` (image-spec config.md): a build step, and whether it
 * made a layer.
 */
export interface History {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  /** True for steps that made no layer (ENV, CMD...): they have no entry in `rootfs.diff_ids`. */
  empty_layer?: boolean;
}

/** The image config blob (OCI image config; Docker's adds `container_config`, `docker_version`, ...). */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  config?: ContainerConfig;
  rootfs: RootFs;
  history?: History[];
  // Docker-only fields, kept when present.
  container?: string;
  container_config?: ContainerConfig;
  docker_version?: string;
  id?: string;
  parent?: string;
  comment?: string;
}

const duration = integer({ min: 0 });

/**
 * An environment entry `NAME=VALUE`: a non-empty name without `=`, then `=` (config.md: "Entries
 * are in the format of VARNAME=VARVALUE"; the image-spec validator refuses `foo`). The value may
 * hold anything, newlines included (Docker's `ENV X="a\nb"` writes one).
 */
const envEntry: Check<string> = (value, path, what) => {
  const s = string(value, path, what);
  if (!/^[^=]+=/.test(s)) fail(what, path, `expected NAME=VALUE, got ${describeValue(s)}`);
  return s;
};
const PORT = /^(?:[1-9][0-9]{0,4})(?:\/(?:tcp|udp|sctp))?$/;

/**
 * Check of Docker's `Healthcheck` object: `Test` a string list, durations and `Retries` non-negative
 * integers.
 */
export const checkHealthConfig: Check<HealthConfig> = object({
  Test: optional(nullable(stringArray)),
  Interval: optional(duration),
  Timeout: optional(duration),
  StartPeriod: optional(duration),
  StartInterval: optional(duration),
  Retries: optional(integer({ min: 0 })),
});

const portKey = pattern(PORT, 'a port like 8080/tcp, 53/udp or 8080');

const exposedPorts: Check<Record<string, Record<string, unknown>>> = (value, path, what) => {
  const ports = objectMap(value, path, what);
  for (const k of Object.keys(ports)) {
    const at = childPath(path, k);
    portKey(k, at, what);
    if (Number(k.split('/')[0]) > 65535) fail(what, at, `port ${k} is above 65535`);
  }
  return ports;
};

/**
 * The check behind `validateContainerConfig`, for composing into other checks. `Env` entries must
 * be `NAME=VALUE`, `ExposedPorts` keys ports up to 65535 with an optional `/tcp`, `/udp` or `/sctp`.
 */
export const checkContainerConfig: Check<ContainerConfig> = object({
  User: optional(string),
  ExposedPorts: optional(nullable(exposedPorts)),
  Env: optional(nullable(arrayOf(envEntry))),
  Entrypoint: optional(nullable(stringArray)),
  Cmd: optional(nullable(stringArray)),
  Volumes: optional(nullable(objectMap)),
  WorkingDir: optional(string),
  Labels: optional(nullable(stringMap)),
  StopSignal: optional(string),
  ArgsEscaped: optional(boolean),
  Healthcheck: optional(nullable(checkHealthConfig)),
  OnBuild: optional(nullable(stringArray)),
  Shell: optional(nullable(stringArray)),
  Hostname: optional(string),
  Domainname: optional(string),
  AttachStdin: optional(boolean),
  AttachStdout: optional(boolean),
  AttachStderr: optional(boolean),
  Tty: optional(boolean),
  OpenStdin: optional(boolean),
  StdinOnce: optional(boolean),
  Image: optional(string),
  NetworkDisabled: optional(boolean),
  MacAddress: optional(string),
  StopTimeout: optional(nullable(integer())),
});

/** Check of an image config's `rootfs`: type `layers` and a list of digests. */
export const checkRootFs: Check<RootFs> = object({
  type: required(literal('layers')),
  diff_ids: required(arrayOf(digest)),
});

/** Check of one image config `history` entry; `created` must be an RFC 3339 timestamp. */
export const checkHistory: Check<History> = object({
  created: optional(timestamp),
  created_by: optional(string),
  author: optional(string),
  comment: optional(string),
  empty_layer: optional(boolean),
});

/**
 * The check behind `validateImageConfig`, for composing into other checks. `architecture` and `os`
 * must be non-empty; `rootfs` is required.
 */
export const checkImageConfig: Check<ImageConfig> = object({
  created: optional(timestamp),
  author: optional(string),
  architecture: required(nonEmptyString),
  os: required(nonEmptyString),
  'os.version': optional(string),
  'os.features': optional(stringArray),
  variant: optional(string),
  config: optional(checkContainerConfig),
  rootfs: required(checkRootFs),
  history: optional(arrayOf(checkHistory)),
  container: optional(string),
  container_config: optional(checkContainerConfig),
  docker_version: optional(string),
  id: optional(string),
  parent: optional(string),
  comment: optional(string),
});

/**
 * Validate an image config (OCI, or Docker's with its extra fields); returns it typed or throws
 * `ValidationError`.
 */
export function validateImageConfig(value: unknown): ImageConfig {
  return validateWith(checkImageConfig, value, 'image config');
}

/**
 * Validate the `config` object of an image config on its own; returns it typed or throws
 * `ValidationError`.
 */
export function validateContainerConfig(value: unknown): ContainerConfig {
  return validateWith(checkContainerConfig, value, 'container config');
}

/** Number of history entries that made a layer; equals `rootfs.diff_ids.length` in a consistent config. */
export function layerHistoryCount(config: ImageConfig): number {
  return (config.history ?? []).filter((h) => h.empty_layer !== true).length;
}

/**
 * `SOURCE_DATE_EPOCH` as reproducible-builds.org defines it, or undefined when unset or invalid:
 * the time of configs' `created` and of layer entries when a build is to be reproducible.
 */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || !/^[0-9]+$/.test(raw.trim())) return undefined;
  return Number(raw.trim());
}
