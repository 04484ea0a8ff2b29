import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll } from 'vitest';

/** A new directory under the system's temporary one, removed once the test file's tests are done. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function collect(stream: Readable | AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

export function sha256(b: Uint8Array): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/**
 * A comparable description of a tree: type, permission bits, content hash or link target; with
 * `mtime` the modification time (seconds), with `owners` uid:gid and a file's link count.
 */
export function describeTree(
  dir: string,
  opts: { mtime?: boolean; owners?: boolean } = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      let what = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
      if (!st.isSymbolicLink()) what += ` ${(st.mode & 0o7777).toString(8)}`;
      if (st.isFile()) what += ` ${sha256(readFileSync(p)).slice(7, 23)}`;
      if (st.isSymbolicLink()) what += ` -> ${readlinkSync(p)}`;
      if (opts.mtime && !st.isSymbolicLink()) what += ` @${Math.floor(st.mtimeMs / 1000)}`;
      if (opts.owners) what += ` ${st.uid}:${st.gid}${st.isFile() ? ` x${st.nlink}` : ''}`;
      out[r] = what;
      if (st.isDirectory()) visit(p, r);
    }
  };
  visit(dir, '');
  return out;
}
