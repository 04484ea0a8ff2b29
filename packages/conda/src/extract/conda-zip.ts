import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { createInflateRaw } from 'node:zlib';
import { PackageFormatError } from '../errors.js';

/** One member of a zip, located through the central directory. */
export interface ZipMember {
  name: string;
  /** 0 stored, 8 deflate. */
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}

/**
 * The members of a zip file, from its central directory (the end of the file), without reading
 * the members themselves. `.conda` packages are zips of stored `.tar.zst` members.
 */
export async function readZipDirectory(file: string, filename: string): Promise<ZipMember[]> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    // The end record is 22 bytes plus a comment of at most 65535.
    const tailLength = Math.min(size, 22 + 0xffff);
    const tail = await readAt(fh, size - tailLength, tailLength);
    let at = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD) {
        at = i;
        break;
      }
    }
    if (at < 0) throw new PackageFormatError(filename, 'not a zip file (no end of central directory)');
    const count = tail.readUInt16LE(at + 10);
    const dirSize = tail.readUInt32LE(at + 12);
    const dirOffset = tail.readUInt32LE(at + 16);
    if (count === 0xffff || dirOffset === 0xffffffff) {
      throw new PackageFormatError(filename, 'zip64 archives are not supported');
    }
    if (dirOffset + dirSize > size)
      throw new PackageFormatError(filename, 'central directory outside the file');
    const dir = await readAt(fh, dirOffset, dirSize);
    const members: ZipMember[] = [];
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > dir.length || dir.readUInt32LE(p) !== CENTRAL) {
        throw new PackageFormatError(filename, `bad central directory entry ${i}`);
      }
      const method = dir.readUInt16LE(p + 10);
      const compressedSize = dir.readUInt32LE(p + 20);
      const uncompressedSize = dir.readUInt32LE(p + 24);
      const nameLength = dir.readUInt16LE(p + 28);
      const extraLength = dir.readUInt16LE(p + 30);
      const commentLength = dir.readUInt16LE(p + 32);
      const localHeaderOffset = dir.readUInt32LE(p + 42);
      const name = dir.toString('utf8', p + 46, p + 46 + nameLength);
      members.push({ name, method, compressedSize, size: uncompressedSize, localHeaderOffset });
      p += 46 + nameLength + extraLength + commentLength;
    }
    return members;
  } finally {
    await fh.close();
  }
}

/** A stream of one member's (uncompressed) bytes, read straight from its place in the file. */
export async function openZipMember(file: string, filename: string, member: ZipMember): Promise<Readable> {
  const fh = await open(file, 'r');
  let dataStart: number;
  try {
    const local = await readAt(fh, member.localHeaderOffset, 30);
    if (local.length < 30 || local.readUInt32LE(0) !== LOCAL) {
      throw new PackageFormatError(filename, `bad local header for ${member.name}`);
    }
    // The local header's own name and extra lengths may differ from the central directory's.
    dataStart = member.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
  } finally {
    await fh.close();
  }
  if (member.compressedSize === 0) return Readable.from([]);
  const raw = createReadStream(file, { start: dataStart, end: dataStart + member.compressedSize - 1 });
  if (member.method === 0) return raw;
  if (member.method === 8) {
    const inflate = createInflateRaw();
    raw.on('error', (e) => inflate.destroy(e));
    return raw.pipe(inflate);
  }
  raw.destroy();
  throw new PackageFormatError(
    filename,
    `zip member ${member.name} uses unsupported compression method ${member.method}`,
  );
}
