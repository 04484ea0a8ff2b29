import type { Descriptor } from './descriptor.js';
import { InvalidPlatformError, PlatformNotFoundError } from './errors.js';
import {
  arrayOf,
  type Check,
  nonEmptyString,
  object,
  optional,
  required,
  string,
  stringArray,
  validateWith,
} from './validate.js';

/** The platform an image runs on (OCI image-spec `platform`; Go's GOOS/GOARCH names). */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
  /** Reserved by the OCI spec; kept when present. */
  features?: string[];
}

/** The check behind `validatePlatform`: `os` and `architecture` must be non-empty. */
export const checkPlatform: Check<Platform> = object({
  architecture: required(nonEmptyString),
  os: required(nonEmptyString),
  'os.version': optional(string),
  'os.features': optional(stringArray),
  variant: optional(string),
  features: optional(arrayOf(string)),
});

/** Validate a platform object; returns it typed or throws `ValidationError`. It is not normalized. */
export function validatePlatform(value: unknown): Platform {
  return validateWith(checkPlatform, value, 'platform');
}

// GOOS/GOARCH values of Go's syslist: a bare word is taken as an OS when it is one of these.
const KNOWN_OS = new Set([
  'aix',
  'android',
  'darwin',
  'dragonfly',
  'freebsd',
  'hurd',
  'illumos',
  'ios',
  'js',
  'linux',
  'nacl',
  'netbsd',
  'openbsd',
  'plan9',
  'solaris',
  'wasip1',
  'windows',
  'zos',
]);
const KNOWN_ARCH = new Set([
  '386',
  'amd64',
  'amd64p32',
  'arm',
  'armbe',
  'arm64',
  'arm64be',
  'loong64',
  'mips',
  'mipsle',
  'mips64',
  'mips64le',
  'mips64p32',
  'mips64p32le',
  'ppc',
  'ppc64',
  'ppc64le',
  'riscv',
  'riscv64',
  's390',
  's390x',
  'sparc',
  'sparc64',
  'wasm',
]);

const COMPONENT = /^[A-Za-z0-9_.-]+$/;
const OS_PART = /^([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.%-]*)((?:\+[A-Za-z0-9_.%-]+)*)\))?$/;

/**
 * Parse `os/arch[/variant]` (`linux/amd64`, `linux/arm64/v8`, `windows(10.0.17763)/amd64`) into a
 * normalized `Platform`. A bare architecture (`arm64`) means Linux, the OS of container images; a
 * bare OS (`linux`) takes the host's architecture. Throws {@link InvalidPlatformError}.
 */
export function parsePlatform(input: string): Platform {
  if (typeof input !== 'string' || input.length === 0) throw new InvalidPlatformError(String(input), 'empty');
  const parts = input.split('/');
  if (parts.length > 3) throw new InvalidPlatformError(input, 'too many "/"-separated parts');
  const osMatch = OS_PART.exec(parts[0] as string);
  if (!osMatch) throw new InvalidPlatformError(input, `invalid OS part "${parts[0]}"`);
  for (const part of parts.slice(1)) {
    if (!COMPONENT.test(part)) throw new InvalidPlatformError(input, `invalid part "${part}"`);
  }
  const osName = osMatch[1] as string;
  const osVersion = osMatch[2] ? decodeOption(osMatch[2], input) : undefined;
  const osFeatures = osMatch[3]
    ? osMatch[3]
        .slice(1)
        .split('+')
        .map((f) => decodeOption(f, input))
    : undefined;

  let platform: Platform;
  if (parts.length === 1) {
    const lower = osName.toLowerCase();
    if (KNOWN_OS.has(normalizeOs(lower))) {
      const host = hostPlatform();
      platform = { os: lower, architecture: host.architecture };
      if (host.variant !== undefined) platform.variant = host.variant;
    } else {
      const arch = normalizeArchitecture(lower, undefined);
      if (!KNOWN_ARCH.has(arch.architecture) || osVersion !== undefined || osFeatures !== undefined) {
        throw new InvalidPlatformError(input, 'not a known operating system or architecture');
      }
      platform = { os: 'linux', architecture: lower };
    }
  } else {
    platform = { os: osName, architecture: parts[1] as string };
    if (parts[2] !== undefined) platform.variant = parts[2];
  }
  if (osVersion !== undefined) platform['os.version'] = osVersion;
  if (osFeatures !== undefined) platform['os.features'] = osFeatures;
  return normalizePlatform(platform);
}

function decodeOption(value: string, input: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    throw new InvalidPlatformError(input, `invalid percent-encoding in "${value}"`);
  }
}

function encodeOption(value: string): string {
  return value.replace(/[%+()/]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/**
 * The string form of a platform, `linux/arm64/v8`, which `parsePlatform` reads back. An OS version
 * or OS features are written as `windows(10.0.17763+win32k)/amd64`.
 */
export function formatPlatform(platform: Platform): string {
  const features = [...(platform['os.features'] ?? [])].sort();
  let os = platform.os;
  if (platform['os.version'] || features.length > 0) {
    os = `${os}(${encodeOption(platform['os.version'] ?? '')}${features.map((f) => `+${encodeOption(f)}`).join('')})`;
  }
  return [os, platform.architecture, platform.variant].filter((p) => p !== undefined && p !== '').join('/');
}

function normalizeOs(os: string): string {
  const lower = os.toLowerCase();
  return lower === 'macos' ? 'darwin' : lower;
}

/**
 * Architecture aliases and default variants, as containerd's platforms package normalizes them,
 * except that the default variants of arm (v7) and arm64 (v8) are written out rather than
 * dropped: that is the form Docker Hub's indexes declare, so normalized values compare equal.
 */
function normalizeArchitecture(
  arch: string,
  variant: string | undefined,
): { architecture: string; variant?: string } {
  const a = arch.toLowerCase();
  const v = variant?.toLowerCase() ?? '';
  switch (a) {
    case 'i386':
    case '386':
      return { architecture: '386' };
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return v === '' || v === 'v1' ? { architecture: 'amd64' } : { architecture: 'amd64', variant: v };
    case 'aarch64':
    case 'arm64':
      return { architecture: 'arm64', variant: v === '' || v === '8' ? 'v8' : v };
    case 'armhf':
      return { architecture: 'arm', variant: 'v7' };
    case 'armel':
      return { architecture: 'arm', variant: 'v6' };
    case 'arm':
      if (v === '') return { architecture: 'arm', variant: 'v7' };
      return { architecture: 'arm', variant: /^[5-8]$/.test(v) ? `v${v}` : v };
    default:
      return v === '' ? { architecture: a } : { architecture: a, variant: v };
  }
}

/**
 * The canonical form of a platform, for comparison: containerd's aliases, default variants written
 * out. In detail: lowercase names, `x86_64`/`x86-64` → amd64, `aarch64` → arm64, `i386` → 386,
 * `armhf` → arm/v7, `armel` → arm/v6, `macos` → darwin, arm64 without variant → arm64/v8, arm
 * without variant → arm/v7, amd64/v1 → amd64, OS features sorted and unique.
 * Returns a new object; other fields are kept.
 */
export function normalizePlatform(platform: Platform): Platform {
  const { architecture, variant } = normalizeArchitecture(platform.architecture, platform.variant);
  const out: Platform = { ...platform, os: normalizeOs(platform.os), architecture };
  if (variant === undefined) delete out.variant;
  else out.variant = variant;
  if (platform['os.features'] !== undefined) {
    out['os.features'] = [...new Set(platform['os.features'])].sort();
  }
  if (out['os.version'] === '') delete out['os.version'];
  return out;
}

/** The platform of the running Node process, in OCI terms (`linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`). */
export function hostPlatform(): Platform {
  const os = NODE_OS[process.platform] ?? process.platform;
  let architecture: string = NODE_ARCH[process.arch] ?? process.arch;
  if (architecture === 'ppc64' && process.getBuiltinModule('node:os').endianness() === 'LE')
    architecture = 'ppc64le';
  let variant: string | undefined;
  if (architecture === 'arm') {
    // Node records the ARM version it was built for; a v7 Node does not run on v6, so it is a floor.
    const v = (process.config.variables as unknown as Record<string, unknown>).arm_version;
    variant = typeof v === 'string' || typeof v === 'number' ? `v${v}` : 'v7';
  }
  return normalizePlatform(variant === undefined ? { os, architecture } : { os, architecture, variant });
}

const NODE_OS: Record<string, string> = { win32: 'windows', sunos: 'solaris', cygwin: 'windows' };
const NODE_ARCH: Record<string, string> = { x64: 'amd64', ia32: '386', mipsel: 'mipsle' };

/**
 * Platforms a host of `want` runs, best first (containerd's `platforms.Only`). amd64/vN also runs
 * amd64/v(N-1)…v1 and 386; arm/vN runs arm/v(N-1)…v5; arm64/v8.x runs v8.(x-1)…v8 and then
 * arm/v8…v5; arm64/v9.x runs v9.(x-1)…v9, then v8.(x+5)…v8, then arm.
 */
export function compatiblePlatforms(want: Platform): Platform[] {
  const p = normalizePlatform(want);
  const out: Platform[] = [p];
  const withVariant = (architecture: string, variant: string | undefined): Platform => {
    const q: Platform = { ...p, architecture };
    if (variant === undefined) delete q.variant;
    else q.variant = variant;
    return q;
  };
  const version = (v: string | undefined): number | undefined => {
    const m = /^v(\d+)$/.exec(v ?? '');
    return m ? Number(m[1]) : undefined;
  };
  if (p.architecture === 'amd64') {
    const n = version(p.variant);
    if (n !== undefined) for (let i = n - 1; i >= 2; i--) out.push(withVariant('amd64', `v${i}`));
    if (n !== undefined && n > 1) out.push(withVariant('amd64', undefined));
    out.push(withVariant('386', undefined));
  } else if (p.architecture === 'arm') {
    const n = version(p.variant);
    if (n !== undefined) for (let i = n - 1; i >= 5; i--) out.push(withVariant('arm', `v${i}`));
  } else if (p.architecture === 'arm64') {
    const m = /^v(\d+)(?:\.(\d+))?$/.exec(p.variant ?? 'v8');
    if (m && Number(m[1]) >= 8) {
      let major = Number(m[1]);
      let minor = m[2] === undefined ? 0 : Number(m[2]);
      const arm64 = (maj: number, min: number) =>
        withVariant('arm64', min === 0 ? `v${maj}` : `v${maj}.${min}`);
      if (major === 9) {
        for (let i = minor - 1; i >= 0; i--) out.push(arm64(9, i));
        // v9.x diverged from v8.(x+5): it implements everything up to there.
        major = 8;
        minor += 5;
        out.push(arm64(8, minor));
      }
      if (major === 8) for (let i = minor - 1; i >= 0; i--) out.push(arm64(8, i));
      for (let i = 8; i >= 5; i--) out.push(withVariant('arm', `v${i}`));
    }
  }
  return out;
}

/** Exact match of normalized platforms; `have`'s OS features must all be offered by `want`. */
function samePlatform(want: Platform, have: Platform): boolean {
  if (want.os !== have.os || want.architecture !== have.architecture || want.variant !== have.variant)
    return false;
  if (want.os === 'windows' && want['os.version'] && have['os.version']) {
    // Windows containers must match the host build (major.minor.build); the revision may differ.
    const build = (v: string) => v.split('.').slice(0, 3).join('.');
    if (build(want['os.version']) !== build(have['os.version'])) return false;
  }
  const offered = new Set(want['os.features'] ?? []);
  return (have['os.features'] ?? []).every((f) => offered.has(f));
}

/**
 * Whether an image built for `have` runs on a host of `want`. It does when the two are equal after
 * normalization (`arm64` = `arm64/v8`, `x86_64` = `amd64`), or when `have` is one of the older
 * variants the host also runs (arm/v7 runs arm/v6; arm64 runs arm/v7; amd64 runs 386). Never the
 * other way round.
 */
export function platformMatches(want: Platform, have: Platform): boolean {
  return platformRank(want, have) !== -1;
}

/** Position of `have` in the preference order of `want` (0 is exact), or -1 when it does not run. */
function platformRank(want: Platform, have: Platform): number {
  const h = normalizePlatform(have);
  return compatiblePlatforms(want).findIndex((c) => samePlatform(c, h));
}

/** Index entries that are not runnable images: BuildKit attestations are listed as unknown/unknown. */
function isAttestation(d: Descriptor): boolean {
  return (
    (d.platform?.os === 'unknown' && d.platform.architecture === 'unknown') ||
    d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest'
  );
}

/** What `selectPlatform` needs of an index: its entries. */
export interface HasManifests {
  manifests: Descriptor[];
}

/**
 * The best entry of an index for `want` (default: the host). An exact match comes first, then the
 * closest compatible variant; on a tie, the first in the index. Attestation entries are skipped.
 * Throws {@link PlatformNotFoundError} listing the platforms the index offers.
 */
export function selectPlatform(index: HasManifests, want: Platform = hostPlatform()): Descriptor {
  let best: Descriptor | undefined;
  let bestRank = Number.POSITIVE_INFINITY;
  for (const d of index.manifests) {
    if (!d.platform || isAttestation(d)) continue;
    const rank = platformRank(want, d.platform);
    if (rank !== -1 && rank < bestRank) {
      best = d;
      bestRank = rank;
    }
  }
  if (best) return best;
  const available = [
    ...new Set(
      index.manifests
        .filter((d) => d.platform && !isAttestation(d))
        .map((d) => formatPlatform(d.platform as Platform)),
    ),
  ];
  throw new PlatformNotFoundError(formatPlatform(normalizePlatform(want)), available);
}
