import type { EntryType, TarHeader } from './header.js';
import { cleanPath, parentOf } from './names.js';
import { type ResolvedTarOptions, runFilter } from './options.js';
import type { PlannedEntry } from './plan.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from './whiteout.js';

/** One entry of an in-memory layer, with everything optional but what its type needs. */
export interface ContentEntry {
  data?: string | Uint8Array;
  /** Default 'file'. `whiteout` marks the path deleted; `opaque` hides lower content of a directory. */
  type?: 'file' | 'dir' | 'directory' | 'symlink' | 'link' | 'whiteout' | 'opaque';
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Seconds since the epoch; default the layer's fixed mtime. */
  mtime?: number;
  /** Target of a symlink, or the layer path a hardlink points to. */
  linkname?: string;
}

/** The content of one path in `Contents`: a file's text (UTF-8) or bytes, or a `ContentEntry`. */
export type ContentValue = string | Uint8Array | ContentEntry;

/** `{ '/etc/app.conf': 'text' }`: layer path → content. */
export type Contents = Record<string, ContentValue> | Map<string, ContentValue>;

function toEntry(v: ContentValue): ContentEntry {
  return typeof v === 'string' || v instanceof Uint8Array ? { data: v } : v;
}

/** Plan the entries of an in-memory content map (paths are cleaned and placed under `base`). */
export function planContents(contents: Contents, base: string, opts: ResolvedTarOptions): PlannedEntry[] {
  const out: PlannedEntry[] = [];
  const pairs = contents instanceof Map ? [...contents] : Object.entries(contents);
  for (const [key, value] of pairs) {
    const e = toEntry(value);
    const rel = cleanPath(key);
    let path = base === '' ? rel : rel === '' ? base : `${base}/${rel}`;
    if (path === '') throw new RangeError('the layer root cannot be given content');
    let type: EntryType;
    let data: Buffer | undefined;
    let mode: number;
    switch (e.type ?? 'file') {
      case 'file':
        type = 'file';
        data =
          e.data === undefined
            ? Buffer.alloc(0)
            : typeof e.data === 'string'
              ? Buffer.from(e.data, 'utf8')
              : Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength);
        mode = e.mode ?? 0o644;
        break;
      case 'dir':
      case 'directory':
        type = 'directory';
        mode = e.mode ?? 0o755;
        break;
      case 'symlink':
        if (!e.linkname) throw new RangeError(`symlink ${key} needs a linkname`);
        type = 'symlink';
        mode = e.mode ?? 0o777;
        break;
      case 'link':
        if (!e.linkname) throw new RangeError(`hardlink ${key} needs a linkname`);
        type = 'link';
        mode = e.mode ?? 0o644;
        break;
      case 'whiteout': {
        const parent = parentOf(path);
        const name = path.slice(parent === '' ? 0 : parent.length + 1);
        path = parent === '' ? `${WHITEOUT_PREFIX}${name}` : `${parent}/${WHITEOUT_PREFIX}${name}`;
        type = 'file';
        data = Buffer.alloc(0);
        mode = e.mode ?? 0o644;
        break;
      }
      case 'opaque':
        path = `${path}/${OPAQUE_WHITEOUT}`;
        type = 'file';
        data = Buffer.alloc(0);
        mode = e.mode ?? 0o644;
        break;
      default:
        throw new RangeError(`unknown entry type ${String(e.type)} for ${key}`);
    }
    const owner = opts.owner === 'keep' ? opts.defaultOwner : opts.owner;
    let linkname = e.linkname ?? '';
    if (type === 'link') linkname = base === '' ? cleanPath(linkname) : `${base}/${cleanPath(linkname)}`;
    let header: TarHeader | undefined = {
      name: type === 'directory' ? `${path}/` : path,
      type,
      mode,
      uid: e.uid ?? owner.uid,
      gid: e.gid ?? owner.gid,
      uname: e.uname ?? owner.uname,
      gname: e.gname ?? owner.gname,
      size: data?.length ?? 0,
      mtime: e.mtime ?? opts.epoch,
      linkname,
      devmajor: 0,
      devminor: 0,
    };
    header = runFilter(opts, header, undefined);
    if (!header) continue;
    out.push({
      path: cleanPath(header.name),
      header,
      source: header.type === 'file' && data ? { kind: 'data', data } : { kind: 'none' },
    });
  }
  return out;
}
