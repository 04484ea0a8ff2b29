import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { PassThrough, type Readable } from 'node:stream';
import { UserNamespaceToolError } from './errors.js';
import { kernelAtLeast, kernelHasOverlay } from './kernel.js';
import { isRoot } from './paths.js';
import { runTool, which } from './tools.js';

// Rootless with the caller's subordinate ids (/etc/subuid, /etc/subgid), as podman and buildah
// run: the caller is root inside, and container uid/gid 1..N are the caller's N subordinate ids.
// Only newuidmap/newgidmap (setuid root) may write such a mapping, so three kinds of process
// use it: the runtime (runc and crun call newuidmap themselves for a multi-range mapping), and
// the tools pd runs where it must act as that root on files owned by subordinate ids — GNU tar
// giving unpacked layers their owners, reading a container's changes, and rm — each started by
// util-linux's `unshare --map-users` (2.38+) in a namespace with the same mapping.

/** One range of a user-namespace id mapping (the OCI runtime spec's form). */
export interface IdRange {
  containerID: number;
  hostID: number;
  size: number;
}

/** The ids of a rootless container: the caller's own ids are root, the subordinate ones follow. */
export interface IdMap {
  uid: number;
  gid: number;
  uids: IdRange[];
  gids: IdRange[];
}

/**
 * How rootless containers map ids on this machine: `mapped` with the caller's subordinate ranges,
 * or `single` (only the caller's uid and gid, as root) with the reason the ranges cannot be used.
 */
export type Rootless = { kind: 'mapped'; map: IdMap } | { kind: 'single'; map: IdMap; why: string };

let decided: Rootless | undefined;

/**
 * The rootless mapping of this process (undefined as root). Decided once: the caller's first
 * range in /etc/subuid and /etc/subgid, newuidmap and newgidmap, and an `unshare` that maps
 * ranges; `PD_ROOTLESS=single` asks for the single-id mapping.
 */
export function rootlessMode(): Rootless | undefined {
  if (isRoot) return undefined;
  decided ??= decide();
  return decided;
}

function decide(): Rootless {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const single = (why: string): Rootless => ({
    kind: 'single',
    map: {
      uid,
      gid,
      uids: [{ containerID: 0, hostID: uid, size: 1 }],
      gids: [{ containerID: 0, hostID: gid, size: 1 }],
    },
    why,
  });
  if (process.env.PD_ROOTLESS === 'single') return single('PD_ROOTLESS=single');
  let name: string | undefined;
  try {
    name = userInfo().username;
  } catch {
    name = undefined;
  }
  const subuid = subordinateRange('/etc/subuid', name, uid);
  const subgid = subordinateRange('/etc/subgid', name, uid);
  if (!subuid || !subgid) return single(`no range for ${name ?? uid} in /etc/subuid and /etc/subgid`);
  if (!which('newuidmap') || !which('newgidmap'))
    return single('newuidmap/newgidmap not found (package uidmap)');
  if (!unshareMapsRanges()) return single('unshare cannot map id ranges (util-linux 2.38 or later needed)');
  // Only an overlay mounted in the container's namespace keeps the owners; a copy could not.
  if (!kernelHasOverlay() || !kernelAtLeast(5, 11))
    return single('overlayfs in a user namespace needs Linux 5.11 or later');
  return {
    kind: 'mapped',
    map: {
      uid,
      gid,
      uids: [
        { containerID: 0, hostID: uid, size: 1 },
        { containerID: 1, hostID: subuid.start, size: subuid.size },
      ],
      gids: [
        { containerID: 0, hostID: gid, size: 1 },
        { containerID: 1, hostID: subgid.start, size: subgid.size },
      ],
    },
  };
}

/** The first `name:start:count` line of `file` for this user (by name or by uid). */
export function subordinateRange(
  file: string,
  name: string | undefined,
  uid: number,
): { start: number; size: number } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if (who !== name && who !== String(uid)) continue;
    const s = Number(start);
    const n = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(n) && n > 0) return { start: s, size: n };
  }
  return undefined;
}

function unshareMapsRanges(): boolean {
  const unshare = which('unshare');
  if (!unshare) return false;
  const r = spawnSync(unshare, ['--help'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('--map-users');
}

/** The mapped rootless mode's mapping as a short text (what a layer's owners were written for). */
export function idmapKey(): string | undefined {
  const mode = rootlessMode();
  if (mode?.kind !== 'mapped') return undefined;
  const text = (r: IdRange[]) => r.map((x) => `${x.containerID}:${x.hostID}:${x.size}`).join(',');
  return `${text(mode.map.uids)}/${text(mode.map.gids)}`;
}

/** A host id as the container sees it (undefined when the mapping leaves it out). */
export function toContainerId(ranges: IdRange[], hostId: number): number | undefined {
  for (const r of ranges)
    if (hostId >= r.hostID && hostId < r.hostID + r.size) return r.containerID + hostId - r.hostID;
  return undefined;
}

/** The range that maps container id `containerId` (undefined when none does). */
export function rangeOfContainerId(ranges: IdRange[] | undefined, containerId: number): IdRange | undefined {
  return ranges?.find((r) => containerId >= r.containerID && containerId < r.containerID + r.size);
}

/** A container id's host id (undefined when the mapping leaves it out). */
export function toHostId(ranges: IdRange[], containerId: number): number | undefined {
  const r = rangeOfContainerId(ranges, containerId);
  return r && r.hostID + containerId - r.containerID;
}

/** `unshare` arguments that run a program as root of a user namespace mapped as `map`. */
function unshareArgs(map: IdMap): string[] {
  const range = (r: IdRange[]) => r.find((x) => x.containerID === 1);
  const u = range(map.uids);
  const g = range(map.gids);
  return [
    '--map-user=0',
    '--map-group=0',
    ...(u ? [`--map-users=${u.hostID},1,${u.size}`] : []),
    ...(g ? [`--map-groups=${g.hostID},1,${g.size}`] : []),
    '--',
  ];
}

/**
 * Run `argv` as root of a user namespace mapped as `map`, with `input` piped to its stdin (when
 * given); resolves to its stdout. For tools with small output; see {@link streamInUserNamespace}.
 */
export function runInUserNamespace(map: IdMap, argv: string[], input?: Readable): Promise<Buffer> {
  return runTool(which('unshare') ?? 'unshare', [...unshareArgs(map), ...argv], {
    input,
    maxBuffer: 1 << 30,
    failure: (stderr, err) => new UserNamespaceToolError(argv[0]!, stderr.trim() || err.message),
  });
}

/**
 * `argv` run as root of the user namespace, its stdout as a stream that fails when the tool fails
 * (with its stderr); `input`, when given, is written to its stdin.
 */
export function streamInUserNamespace(map: IdMap, argv: string[], input?: string | Buffer): Readable {
  const unshare = which('unshare') ?? 'unshare';
  const child = spawn(unshare, [...unshareArgs(map), ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = child.stdout;
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  child.stdin.on('error', () => {});
  child.stdin.end(input);
  // The stream ends only once the tool has exited well; a failure replaces the end with an error.
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', (e) => reject(e));
    child.on('close', (code, signal) =>
      code === 0
        ? resolve()
        : reject(new UserNamespaceToolError(argv[0]!, stderr.trim() || `exit ${code ?? signal}`)),
    );
  });
  const result = new PassThrough({ highWaterMark: 1 << 20 });
  out.pipe(result, { end: false });
  out.on('end', () => {
    exited.then(
      () => result.end(),
      (e: Error) => result.destroy(e),
    );
  });
  result.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return result;
}

/**
 * Remove `path` and everything below it. Files a container or an image gave to subordinate ids
 * (a 0700 directory of another user) cannot be removed by the caller itself: those go through
 * `rm` in the user namespace.
 */
export async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const mode = rootlessMode();
    if ((code !== 'EACCES' && code !== 'EPERM' && code !== 'ENOTEMPTY') || mode?.kind !== 'mapped') throw e;
    await runInUserNamespace(mode.map, ['rm', '-rf', '--', path]);
  }
}
