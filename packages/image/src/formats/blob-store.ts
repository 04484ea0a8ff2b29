import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type Descriptor, type Digest, MAX_MANIFEST_SIZE, parseDigest, verifyBytes } from '@pd/oci-types';
import { readFileStream } from '@pd/tar/file-io';
import { ArchiveFormatError, MissingMemberError } from './errors.js';
import type { ReadMemberOptions, TarIndex } from './tar-index.js';

/**
 * The files of an OCI image layout, wherever they are: a directory, or members of a tar. Bytes come
 * out unverified; {@link readVerified} and the image classes check them against their descriptors.
 */
export interface BlobStore {
  /** The directory or archive, for messages. */
  readonly where: string;
  /** Size of the blob, or undefined when it is absent. */
  blobSize(digest: Digest): Promise<number | undefined>;
  openBlob(digest: Digest, options?: ReadMemberOptions): Promise<Readable>;
  /** Where a blob's bytes sit in a local file, or undefined when it is absent. */
  blobFile(digest: Digest): Promise<{ path: string; start: number; size: number } | undefined>;
  /** A small top-level file (`oci-layout`, `index.json`); undefined when absent. */
  readFile(name: string, limit: number): Promise<Buffer | undefined>;
  /** A small blob whole; the caller verifies it. */
  readBlob(digest: Digest, limit: number): Promise<Buffer>;
}

/** `blobs/<algorithm>/<hex>`; the digest is validated first, so the path cannot leave the layout. */
export function blobPath(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `blobs/${algorithm}/${hex}`;
}

/** The blobs of an OCI layout directory. */
export class DirBlobStore implements BlobStore {
  readonly where: string;
  constructor(readonly dir: string) {
    this.where = dir;
  }

  private file(digest: Digest): string {
    return join(this.dir, blobPath(digest));
  }

  async blobSize(digest: Digest): Promise<number | undefined> {
    try {
      const s = await stat(this.file(digest));
      return s.isFile() ? s.size : undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async openBlob(digest: Digest, options: ReadMemberOptions = {}): Promise<Readable> {
    if ((await this.blobSize(digest)) === undefined) throw missingBlob(this.where, digest);
    return readFileStream(this.file(digest), { signal: options.signal });
  }

  async blobFile(digest: Digest): Promise<{ path: string; start: number; size: number } | undefined> {
    const size = await this.blobSize(digest);
    return size === undefined ? undefined : { path: this.file(digest), start: 0, size };
  }

  async readFile(name: string, limit: number): Promise<Buffer | undefined> {
    return readSmallFile(join(this.dir, name), name, limit, this.where);
  }

  async readBlob(digest: Digest, limit: number): Promise<Buffer> {
    const data = await readSmallFile(this.file(digest), blobPath(digest), limit, this.where);
    if (!data) throw missingBlob(this.where, digest);
    return data;
  }
}

/** The blobs of an OCI layout stored as a tar (an OCI archive), read in place through its `TarIndex`. */
export class TarBlobStore implements BlobStore {
  readonly where: string;
  constructor(readonly archive: TarIndex) {
    this.where = archive.path;
  }

  async blobSize(digest: Digest): Promise<number | undefined> {
    return this.archive.resolve(blobPath(digest))?.size;
  }

  async openBlob(digest: Digest, options: ReadMemberOptions = {}): Promise<Readable> {
    const m = this.archive.resolve(blobPath(digest));
    if (!m) throw missingBlob(this.where, digest);
    return this.archive.openMember(m, options);
  }

  async blobFile(digest: Digest): Promise<{ path: string; start: number; size: number } | undefined> {
    const m = this.archive.resolve(blobPath(digest));
    return m && { path: this.archive.path, start: m.offset, size: m.size };
  }

  async readFile(name: string, limit: number): Promise<Buffer | undefined> {
    return this.archive.has(name) ? this.archive.read(name, limit) : undefined;
  }

  async readBlob(digest: Digest, limit: number): Promise<Buffer> {
    if (!this.archive.has(blobPath(digest))) throw missingBlob(this.where, digest);
    return this.archive.read(blobPath(digest), limit);
  }
}

function missingBlob(where: string, digest: string): MissingMemberError {
  return new MissingMemberError(where, `blob ${digest}`);
}

async function readSmallFile(
  file: string,
  name: string,
  limit: number,
  where: string,
): Promise<Buffer | undefined> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const { size } = await fh.stat();
    if (size > limit)
      throw new ArchiveFormatError(where, `"${name}" is ${size} bytes, more than the ${limit} allowed`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** A manifest or config blob, checked against its descriptor before anything parses it. */
export async function readVerified(store: BlobStore, d: Descriptor, what: string): Promise<Buffer> {
  if (d.size > MAX_MANIFEST_SIZE) {
    throw new ArchiveFormatError(
      store.where,
      `${what} ${d.digest} is ${d.size} bytes, more than ${MAX_MANIFEST_SIZE}`,
    );
  }
  const data = await store.readBlob(d.digest, MAX_MANIFEST_SIZE);
  verifyBytes(data, d.digest, { size: d.size, subject: `${what} ${d.digest} in ${store.where}` });
  return data;
}
