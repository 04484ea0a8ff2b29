import { realpath } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { PdError, sourceDateEpoch } from '@pd/oci-types';
import { lazyTar } from './create.js';
import { TarFormatError } from './errors.js';
import { END_OF_ARCHIVE, encodeHeader, padding, type TarHeader } from './header.js';
import { cleanPath, compareBytes, parentOf } from './names.js';
import { resolveTarOptions } from './options.js';
import { finalizePlan, type PlannedEntry, ROOT_OWNER } from './plan.js';
import { parseTar } from './reader.js';
import { walk } from './walk.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from './whiteout.js';

// A container's changes, as overlayfs keeps them in its upper directory, made into an OCI layer
// (what docker commit and buildah commit do): a deleted path is a 0/0 character device there and
// becomes a `.wh.` entry; a directory deleted and made again is marked opaque by an xattr and
// gets a `.wh..wh..opq` entry; owners, modes and other xattrs are kept as they are.

/** Options of `tarOverlayUpper`. */
export interface OverlayTarOptions {
  /**
   * Latest mtime written, in seconds: newer ones are clamped to it (as buildkit's
   * rewrite-timestamp), so a commit under SOURCE_DATE_EPOCH is reproducible. Default
   * `SOURCE_DATE_EPOCH` when set, else every file keeps its own mtime.
   */
  clampMtime?: number;
  /**
   * Where the runtime mounted things (`/proc`, `/etc/hosts`, volumes): the runtime creates what
   * the image lacks there, and such an empty file or directory is left out, as docker leaves its
   * init layer out of a commit. What the container wrote below one stays.
   */
  mountPoints?: readonly string[];
  /**
   * Read the directory through tools (`find`, `getfattr`, GNU `tar`) started by this function,
   * which returns the tool's stdout and fails the stream when the tool fails; `input` goes to its
   * stdin. For an upper directory whose files belong to users the caller cannot read as, such as
   * a rootless container's (subordinate ids), where only a process in its user namespace can read
   * them all. The layer is the same, byte for byte, as the one read in-process.
   */
  runTool?: (argv: string[], input?: string) => Readable;
  signal?: AbortSignal;
}

/** `getfattr` (package attr) is needed to read the xattrs overlayfs marks opaque directories with. */
export class XattrToolMissingError extends PdError {
  constructor() {
    super('getfattr is not installed: the changes of a container cannot be read without it', {
      code: 'TOOL_NOT_FOUND',
      hint: 'apt-get install attr',
    });
  }
}

/** Where overlayfs keeps its own state: never part of an image. */
const OVERLAY_XATTR = /^(trusted|user)\.overlay\./;

/**
 * The layer tar of an overlayfs upper directory: new and changed files as they are (owners,
 * modes, hardlinks, xattrs), deletions as whiteouts, recreated directories as opaque ones. Sorted
 * and streamed as every pd layer is.
 */
export function tarOverlayUpper(upper: string, opts: OverlayTarOptions = {}): Readable {
  const clamp = opts.clampMtime ?? sourceDateEpoch();
  if (opts.runTool) {
    const run = opts.runTool;
    return Readable.from(upperThroughTools(upper, opts, clamp, run), {
      objectMode: false,
      highWaterMark: 1 << 20,
    });
  }
  const o = resolveTarOptions({
    owner: 'keep',
    mtime: 'keep',
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return lazyTar(
    async () => {
      // getfattr names files by the path it was given: an absolute, resolved one to match on.
      const dir = await realpath(upper);
      const found: PlannedEntry[] = [];
      await walk(dir, '', o, found);
      const xattrs = parseXattrDump(await getfattrDump(dir), dir);
      const scope = upperScope(opts.mountPoints, found);
      const entries: PlannedEntry[] = [];
      for (const e of found) {
        const h = e.header;
        const attrs = xattrs.get(e.path);
        const kind = upperEntryKind(
          {
            path: e.path,
            whiteout: h.type === 'character-device' && h.devmajor === 0 && h.devminor === 0,
            directory: h.type === 'directory',
            bytes: h.size,
          },
          attrs,
          scope,
        );
        if (kind === 'mount-point') continue;
        if (clamp !== undefined && h.mtime > clamp) h.mtime = clamp;
        if (kind === 'whiteout') {
          entries.push(marker(whiteoutOf(e.path), h.mtime));
          continue;
        }
        const kept = keptXattrs(attrs);
        if (kept) h.xattrs = kept;
        if (kind === 'opaque') entries.push(marker(`${e.path}/${OPAQUE_WHITEOUT}`, h.mtime));
        entries.push(e);
      }
      const epoch = clamp ?? 0;
      return finalizePlan(entries, { mtime: epoch, owner: ROOT_OWNER });
    },
    opts.signal ? { signal: opts.signal } : {},
  );
}

/** What an upper directory's runtime mount points and parent paths are, for {@link upperEntryKind}. */
interface UpperScope {
  mounts: Set<string>;
  parents: Set<string>;
}

function upperScope(mountPoints: readonly string[] | undefined, found: { path: string }[]): UpperScope {
  return {
    mounts: new Set((mountPoints ?? []).map((m) => m.replace(/^\/+|\/+$/g, ''))),
    parents: new Set(found.map((e) => parentOf(e.path))),
  };
}

/**
 * What an entry of an upper directory becomes in the layer, the same whichever way it was read:
 * left out (what the runtime created at a mount point: no bytes, nothing below), a whiteout (a
 * 0/0 character device), an opaque directory (overlayfs' opaque xattr) or itself.
 */
function upperEntryKind(
  e: { path: string; whiteout: boolean; directory: boolean; bytes: number },
  attrs: Record<string, Buffer> | undefined,
  scope: UpperScope,
): 'mount-point' | 'whiteout' | 'opaque' | 'plain' {
  if (scope.mounts.has(e.path) && e.bytes === 0 && !scope.parents.has(e.path)) return 'mount-point';
  if (e.whiteout) return 'whiteout';
  const opaque = attrs?.['trusted.overlay.opaque'] ?? attrs?.['user.overlay.opaque'];
  return e.directory && opaque?.toString() === 'y' ? 'opaque' : 'plain';
}

/** An entry's xattrs without overlayfs' own; undefined when none are left. */
function keptXattrs(attrs: Record<string, Buffer> | undefined): Record<string, Buffer> | undefined {
  const kept = Object.entries(attrs ?? {}).filter(([k]) => !OVERLAY_XATTR.test(k));
  return kept.length > 0 ? Object.fromEntries(kept) : undefined;
}

function whiteoutOf(path: string): string {
  const parent = parentOf(path);
  const base = parent === '' ? path : path.slice(parent.length + 1);
  return parent === '' ? `${WHITEOUT_PREFIX}${base}` : `${parent}/${WHITEOUT_PREFIX}${base}`;
}

/** A whiteout entry at `path`: an empty file, owned by root, with the time of what it stands for. */
function marker(path: string, mtime: number): PlannedEntry {
  return {
    path,
    source: { kind: 'none' },
    header: {
      name: path,
      type: 'file',
      mode: 0,
      uid: 0,
      gid: 0,
      uname: '',
      gname: '',
      size: 0,
      mtime,
      linkname: '',
      devmajor: 0,
      devminor: 0,
    },
  };
}

/** getfattr's arguments for every xattr under `dir` (no symlinks followed), values in base64. */
const getfattrArgs = (dir: string) => [
  '--absolute-names',
  '-R',
  '-P',
  '-h',
  '-d',
  '-m',
  '-',
  '-e',
  'base64',
  dir,
];

/**
 * Every xattr under `dir`, from one `getfattr` run. Node has no xattr calls; one process for the
 * whole tree costs milliseconds.
 */
async function getfattrDump(dir: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    process
      .getBuiltinModule('node:child_process')
      .execFile(
        'getfattr',
        getfattrArgs(dir),
        { maxBuffer: 1 << 30, encoding: 'latin1' },
        (err, stdout, stderr) => {
          if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT') reject(new XattrToolMissingError());
          // getfattr exits 1 when some file has no xattrs readable; the dump is still whole.
          else if (err && !stdout && stderr)
            reject(new PdError(`getfattr: ${stderr.trim()}`, { code: 'XATTR_READ' }));
          else resolve(stdout);
        },
      );
  });
}

/** A getfattr dump of `dir` as xattrs by relative path. */
function parseXattrDump(dump: string, dir: string): Map<string, Record<string, Buffer>> {
  const out = new Map<string, Record<string, Buffer>>();
  let current: Record<string, Buffer> | undefined;
  for (const line of dump.split('\n')) {
    if (line.startsWith('# file: ')) {
      const abs = unescapeAttrText(line.slice('# file: '.length));
      const rel = abs === dir ? '' : abs.startsWith(`${dir}/`) ? abs.slice(dir.length + 1) : undefined;
      current = rel === undefined ? undefined : {};
      if (current && rel !== undefined) out.set(rel, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq <= 0) continue;
    const name = unescapeAttrText(line.slice(0, eq));
    const value = line.slice(eq + 1);
    current[name] = value.startsWith('0s')
      ? Buffer.from(value.slice(2), 'base64')
      : Buffer.from(value.replace(/^"|"$/g, ''), 'latin1');
  }
  return out;
}

/** getfattr writes bytes outside printable ASCII (and `\`, `=`) as `\ooo`; names are UTF-8. */
function unescapeAttrText(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\' && /^[0-7]{3}$/.test(text.slice(i + 1, i + 4))) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 4), 8));
      i += 3;
    } else bytes.push(text.charCodeAt(i) & 0xff);
  }
  return Buffer.from(bytes).toString('utf8');
}

// --- through tools ------------------------------------------------------------------------------

/** One entry of the layer in the order it is written: a file read by tar, or a whiteout made here. */
type Planned = { path: string; kind: 'tar' } | { path: string; kind: 'marker'; mtime: number };

/**
 * The same layer as the in-process walk, from three tool runs: `find` lists every path with its
 * type, size and mtime; `getfattr` gives the xattrs (opaque marks too); GNU tar archives the listed
 * paths in pd's order, and its entries are written again with pd's headers, whiteout and opaque
 * markers put where the in-process plan sorts them.
 */
async function* upperThroughTools(
  upper: string,
  opts: OverlayTarOptions,
  clamp: number | undefined,
  run: (argv: string[], input?: string) => Readable,
): AsyncGenerator<Buffer> {
  const dir = await realpath(upper);
  const listing = (
    await process
      .getBuiltinModule('node:stream/consumers')
      .buffer(run(['find', dir, '-mindepth', '1', '-printf', '%P\\0%y\\0%s\\0%T@\\0']))
  ).toString('utf8');
  const fields = listing.split('\0');
  const found: Array<{ path: string; type: string; size: number; mtime: number }> = [];
  for (let i = 0; i + 3 < fields.length; i += 4)
    found.push({
      path: fields[i]!,
      type: fields[i + 1]!,
      size: Number(fields[i + 2]),
      mtime: Math.floor(Number(fields[i + 3])),
    });
  const xattrs = parseXattrDump(
    (
      await process.getBuiltinModule('node:stream/consumers').buffer(run(['getfattr', ...getfattrArgs(dir)]))
    ).toString('latin1'),
    dir,
  );
  const scope = upperScope(opts.mountPoints, found);
  const time = (t: number) => (clamp !== undefined && t > clamp ? clamp : t);
  const plan: Planned[] = [];
  for (const e of found) {
    if (e.type === 's') continue; // sockets cannot be archived
    const kind = upperEntryKind(
      {
        path: e.path,
        // A character device in an upper directory is overlayfs' whiteout (nothing else can make one there).
        whiteout: e.type === 'c',
        directory: e.type === 'd',
        bytes: e.type === 'f' ? e.size : 0,
      },
      xattrs.get(e.path),
      scope,
    );
    if (kind === 'mount-point') continue;
    if (kind === 'whiteout') {
      plan.push({ path: whiteoutOf(e.path), kind: 'marker', mtime: time(e.mtime) });
      continue;
    }
    if (kind === 'opaque')
      plan.push({ path: `${e.path}/${OPAQUE_WHITEOUT}`, kind: 'marker', mtime: time(e.mtime) });
    plan.push({ path: e.path, kind: 'tar' });
  }
  plan.sort((a, b) => compareBytes(a.path, b.path));
  const names = plan
    .filter((p) => p.kind === 'tar')
    .map((p) => `${p.path}\0`)
    .join('');
  const archive = run(
    [
      'tar',
      '-C',
      dir,
      '-c',
      '-f',
      '-',
      '--no-recursion',
      '--null',
      '--verbatim-files-from',
      '-T',
      '-',
      '--format=posix',
      '--numeric-owner',
    ],
    names,
  );
  const entries = parseTar(archive)[Symbol.asyncIterator]();
  for (const p of plan) {
    opts.signal?.throwIfAborted();
    if (p.kind === 'marker') {
      yield encodeHeader(marker(p.path, p.mtime).header);
      continue;
    }
    const next = await entries.next();
    if (next.done) throw new TarFormatError(`tar ended before ${p.path}`);
    const { header: got, body } = next.value;
    if (cleanPath(got.name) !== p.path)
      throw new TarFormatError(`tar gave ${got.name} where ${p.path} was expected`);
    // From getfattr by path, as in-process: a hardlink entry carries its inode's xattrs too.
    const kept = keptXattrs(xattrs.get(p.path));
    const h: TarHeader = {
      name: got.type === 'directory' ? `${p.path}/` : p.path,
      type: got.type,
      mode: got.mode & 0o7777,
      uid: got.uid,
      gid: got.gid,
      uname: '',
      gname: '',
      size: got.type === 'file' ? got.size : 0,
      mtime: time(Math.floor(got.mtime)),
      linkname: got.linkname,
      devmajor: got.devmajor,
      devminor: got.devminor,
      ...(kept ? { xattrs: kept } : {}),
    };
    yield encodeHeader(h);
    for await (const chunk of body) yield chunk;
    const pad = padding(h.size);
    if (pad) yield END_OF_ARCHIVE.subarray(0, pad);
  }
  if (!(await entries.next()).done) throw new TarFormatError('tar gave more entries than were listed');
  yield END_OF_ARCHIVE;
}
