import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { SizeMismatchError } from '@pd/oci-types';
import { BatchedFileWriter, pipeInto } from '@pd/tar/file-io';

const BLOCK = 512;
const ZEROS = Buffer.alloc(BLOCK * 2);
const MAX_OCTAL_SIZE = 8 ** 11 - 1;

/** Bytes of an open file that someone else writes: `size` of them from `position`. */
export interface FileRegion {
  file: FileHandle;
  position: number;
  size: number;
}

/**
 * A deterministic tar writer for archives of images: regular files and directories only, owner
 * 0:0, one fixed mtime, modes 0644 / 0755. Sizes are declared up front (a header precedes its
 * data), so a body that is longer or shorter than announced fails the write.
 */
export class TarWriter {
  private readonly out: BatchedFileWriter;

  constructor(
    private readonly fh: FileHandle,
    private readonly mtime = 0,
  ) {
    this.out = new BatchedFileWriter(fh);
  }

  async directory(name: string): Promise<void> {
    await this.put(header(name.endsWith('/') ? name : `${name}/`, 0, '5', 0o755, this.mtime));
  }

  /** A small member held in memory (metadata JSON). */
  async file(name: string, data: Uint8Array): Promise<void> {
    await this.put([
      ...header(name, data.byteLength, '0', 0o644, this.mtime),
      data,
      padding(data.byteLength),
    ]);
  }

  /** A member streamed from `body`, which must yield exactly `size` bytes. */
  async stream(
    name: string,
    size: number,
    body: Readable | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    onData?: (done: number) => void,
  ): Promise<void> {
    await this.put(header(name, size, '0', 0o644, this.mtime));
    const count = counter(name, size, onData);
    if (body instanceof Readable) {
      await pipeInto(this.out, body, count);
    } else {
      for await (const chunk of body) {
        count(chunk);
        await this.out.write(chunk);
      }
    }
    count.end();
    await this.put([padding(size)]);
  }

  /**
   * A member copied from the file at `path`, which must hold exactly `size` bytes: a file is
   * copied through two reused buffers, cheaper than streaming it (`BatchedFileWriter.appendFile`).
   */
  async copyFile(name: string, size: number, path: string, onData?: (done: number) => void): Promise<void> {
    await this.put(header(name, size, '0', 0o644, this.mtime));
    const count = counter(name, size, onData);
    await this.out.appendFile(path, count);
    count.end();
    await this.put([padding(size)]);
  }

  /**
   * A member of `size` bytes that this writer leaves unwritten: resolves with the offset of its
   * data, for the caller to fill with positional writes (a download running beside the writer)
   * before the archive counts as written.
   */
  async reserve(name: string, size: number): Promise<FileRegion> {
    await this.put(header(name, size, '0', 0o644, this.mtime));
    const position = await this.out.skip(size);
    await this.put([padding(size)]);
    return { file: this.fh, position, size };
  }

  /** The two zero blocks that end an archive; everything is written when this resolves. */
  async finish(): Promise<void> {
    await this.put([ZEROS]);
    await this.out.flush();
  }

  private async put(buffers: Uint8Array[]): Promise<void> {
    for (const b of buffers) await this.out.write(b);
  }
}

/** Counts a member's bytes as they go: more than `size` throws at once, fewer at `end()`. */
function counter(name: string, size: number, onData?: (done: number) => void) {
  let done = 0;
  const count = (chunk: Uint8Array) => {
    done += chunk.byteLength;
    if (done > size) throw new SizeMismatchError(`archive member ${name}`, size, done);
    onData?.(done);
  };
  return Object.assign(count, {
    end() {
      if (done !== size) throw new SizeMismatchError(`archive member ${name}`, size, done);
    },
  });
}

function padding(size: number): Buffer {
  const rem = size % BLOCK;
  return rem === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - rem);
}

/** Header block(s) for a member: a PAX record first when the name or size does not fit ustar. */
function header(name: string, size: number, typeflag: string, mode: number, mtime: number): Buffer[] {
  const split = splitName(name);
  const records: string[] = [];
  if (!split) records.push(paxRecord('path', name));
  if (size > MAX_OCTAL_SIZE) records.push(paxRecord('size', String(size)));
  const main = ustar(
    split ?? { prefix: '', base: asciiPrefix(name) },
    size > MAX_OCTAL_SIZE ? 0 : size,
    typeflag,
    mode,
    mtime,
  );
  if (records.length === 0) return [main];
  const body = Buffer.from(records.join(''), 'utf8');
  const base = asciiPrefix(name.replace(/\/+$/, '').split('/').pop() ?? 'entry').slice(0, 80);
  return [
    ustar({ prefix: '', base: `PaxHeaders/${base}` }, body.length, 'x', 0o644, mtime),
    body,
    padding(body.length),
    main,
  ];
}

/** `<len> key=value\n`, where len counts the whole record including its own digits. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  const bytes = Buffer.byteLength(rest);
  let len = bytes + String(bytes).length;
  if (String(len).length !== String(bytes).length) len = bytes + String(len).length;
  return `${len}${rest}`;
}

function asciiPrefix(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '_').slice(0, 100);
}

function splitName(name: string): { prefix: string; base: string } | undefined {
  if (!/^[\x20-\x7e]*$/.test(name)) return undefined;
  if (name.length <= 100) return { prefix: '', base: name };
  for (let i = name.length - 2; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const base = name.slice(i + 1);
    if (base.length > 100) return undefined;
    if (prefix.length <= 155) return { prefix, base };
  }
  return undefined;
}

function octal(b: Buffer, value: number, offset: number, width: number): void {
  b.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, width, 'latin1');
}

function ustar(
  name: { prefix: string; base: string },
  size: number,
  typeflag: string,
  mode: number,
  mtime: number,
): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(name.base, 0, 100, 'latin1');
  octal(b, mode, 100, 8);
  octal(b, 0, 108, 8);
  octal(b, 0, 116, 8);
  octal(b, size, 124, 12);
  octal(b, mtime, 136, 12);
  b.write(typeflag, 156, 1, 'latin1');
  b.write('ustar\x0000', 257, 8, 'latin1');
  b.write(name.prefix, 345, 155, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return b;
}
