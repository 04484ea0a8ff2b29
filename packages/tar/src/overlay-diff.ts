import { execFile } from 'node:child_process';
import { realpath } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { PdError } from '@pd/oci-types';
import { lazyTar } from './create.js';
import type { TarHeader } from './header.js';
import { parentOf } from './names.js';
import { resolveTarOptions, sourceDateEpoch } from './options.js';
import { finalizePlan, type PlannedEntry, ROOT_OWNER } from './plan.js';
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
      const xattrs = await readXattrs(dir);
      const mounts = new Set((opts.mountPoints ?? []).map((m) => m.replace(/^\/+|\/+$/g, '')));
      const parents = new Set(found.map((e) => parentOf(e.path)));
      const entries: PlannedEntry[] = [];
      for (const e of found) {
        if (mounts.has(e.path) && e.header.size === 0 && !parents.has(e.path)) continue;
        const h = e.header;
        if (clamp !== undefined && h.mtime > clamp) h.mtime = clamp;
        if (h.type === 'character-device' && h.devmajor === 0 && h.devminor === 0) {
          entries.push(marker(whiteoutOf(e.path), h));
          continue;
        }
        const attrs = xattrs.get(e.path);
        if (attrs) {
          const kept = Object.entries(attrs).filter(([k]) => !OVERLAY_XATTR.test(k));
          if (kept.length > 0) h.xattrs = Object.fromEntries(kept);
          const opaque = attrs['trusted.overlay.opaque'] ?? attrs['user.overlay.opaque'];
          if (h.type === 'directory' && opaque?.toString() === 'y') {
            entries.push(marker(`${e.path}/${OPAQUE_WHITEOUT}`, h));
          }
        }
        entries.push(e);
      }
      const epoch = clamp ?? 0;
      return finalizePlan(entries, { mtime: epoch, owner: ROOT_OWNER });
    },
    opts.signal ? { signal: opts.signal } : {},
  );
}

function whiteoutOf(path: string): string {
  const parent = parentOf(path);
  const base = parent === '' ? path : path.slice(parent.length + 1);
  return parent === '' ? `${WHITEOUT_PREFIX}${base}` : `${parent}/${WHITEOUT_PREFIX}${base}`;
}

/** A whiteout entry at `path`: an empty file, owned by root, with the time of what it stands for. */
function marker(path: string, like: TarHeader): PlannedEntry {
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
      mtime: like.mtime,
      linkname: '',
      devmajor: 0,
      devminor: 0,
    },
  };
}

/**
 * Every xattr under `dir` by relative path, from one `getfattr` run (no symlinks followed). Node
 * has no xattr calls; one process for the whole tree costs milliseconds.
 */
async function readXattrs(dir: string): Promise<Map<string, Record<string, Buffer>>> {
  const dump = await new Promise<string>((resolve, reject) => {
    execFile(
      'getfattr',
      ['--absolute-names', '-R', '-P', '-h', '-d', '-m', '-', '-e', 'base64', dir],
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
