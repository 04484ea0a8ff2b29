import { Readable } from 'node:stream';
import { ByteSource } from './byte-source.js';
import { decompress, type LayerInput } from './decompress.js';
import { TarFormatError } from './errors.js';
import { applyPax, BLOCK, decodeHeader, decodePax, isZeroBlock, padding, type TarHeader } from './header.js';

const EMPTY = Buffer.alloc(0);

/** Meta entries (PAX, GNU long names) larger than this are refused rather than held in memory. */
const META_LIMIT = 1 << 20;

/** An entry whose body is a once-only async iterable of slices of the input. */
export interface RawEntry {
  header: TarHeader;
  body: AsyncIterable<Buffer>;
  /**
   * What is left of the body, read now, when the input's chunk at hand holds all of it and no read
   * is in flight; else undefined (read `body`). A small file's data without a promise.
   */
  rest(): Buffer | undefined;
}

/** One entry of `readEntries`: its header and a stream of its data. */
export interface TarEntry {
  header: TarHeader;
  /** The entry's data. Read it before asking for the next entry, or it is skipped. */
  body: Readable;
}

/**
 * Streaming tar parser. Entries come out one at a time; the body of one must be consumed (or is
 * skipped) before the next header is read. Reads and skips go through one promise chain so that a
 * body read still in flight can never interleave with the skip to the next header.
 */
export async function* parseTar(input: AsyncIterable<Uint8Array | string>): AsyncGenerator<RawEntry> {
  const src = new ByteSource(input);
  let remaining = 0; // body bytes of the current entry not yet handed out
  let generation = 0;
  let lock: Promise<unknown> = Promise.resolve();
  // Operations in the chain not yet settled. With none, what the input's chunk at hand holds is
  // read without a promise: a layer of 16 548 entries (362 MB, page-cached) parsed in 285-325 ms
  // through the chain alone, about 14 µs of promises per entry.
  let pending = 0;
  const settled = () => {
    pending--;
  };
  const locked = <T>(fn: () => Promise<T>): Promise<T> => {
    pending++;
    const p = lock.then(fn);
    // Registered before any caller's await on p, so pending is down when that caller resumes.
    lock = p.then(settled, settled);
    return p;
  };
  const finishCurrent = async (pad: number) => {
    if (pending === 0 && src.skipBuffered(remaining + pad)) {
      remaining = 0;
      return;
    }
    await locked(async () => {
      await src.skip(remaining + pad);
      remaining = 0;
    });
  };

  let globalPax = new Map<string, Buffer>();
  let ok = false;
  try {
    for (;;) {
      let pax: Map<string, Buffer> | undefined;
      let longName: string | undefined;
      let longLink: string | undefined;
      let header: TarHeader | undefined;
      let headerOffset = 0;
      // Meta entries describe the next real entry.
      for (;;) {
        headerOffset = src.offset;
        const block =
          (pending === 0 ? src.takeExact(BLOCK) : undefined) ?? (await locked(() => src.readExact(BLOCK)));
        if (block === undefined) break; // EOF at a header boundary: accept like GNU tar does
        if (isZeroBlock(block)) break;
        const raw = decodeHeader(block, headerOffset);
        const flag = raw.typeflag;
        if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
          const size = raw.header.size;
          if (size > META_LIMIT)
            throw new TarFormatError(`tar meta entry of ${size} bytes at byte ${headerOffset} is too large`);
          const body = (await locked(() => src.readExact(size))) ?? Buffer.alloc(0);
          if (body.length !== size)
            throw new TarFormatError(`unexpected end of archive at byte ${src.offset}`);
          await locked(() => src.skip(padding(size)));
          if (flag === 'x') pax = decodePax(body);
          else if (flag === 'g') globalPax = new Map([...globalPax, ...decodePax(body)]);
          else {
            const end = body.indexOf(0);
            const text = body.toString('utf8', 0, end < 0 ? body.length : end);
            if (flag === 'L') longName = text;
            else longLink = text;
          }
          continue;
        }
        header = raw.header;
        break;
      }
      if (header === undefined) break;
      if (longName !== undefined) header.name = longName;
      if (longLink !== undefined) header.linkname = longLink;
      if (globalPax.size > 0) applyPax(header, globalPax);
      if (pax) applyPax(header, pax);
      if (header.type === 'file' && header.name.endsWith('/')) header.type = 'directory';
      // Like Go's archive/tar (what docker and containerd read layers with): links, directories,
      // devices and fifos carry no data whatever their size field says.
      if (header.type !== 'file' && header.type !== 'unknown') header.size = 0;
      remaining = header.size;
      const skipAfter = padding(header.size);
      const mine = ++generation;
      const body: AsyncIterable<Buffer> = {
        async *[Symbol.asyncIterator]() {
          for (;;) {
            if (pending === 0) {
              if (mine !== generation || remaining === 0) return;
              const got = src.takeSome(Math.min(remaining, 1 << 20));
              if (got !== undefined) {
                remaining -= got.length;
                yield got;
                continue;
              }
            }
            const chunk = await locked(async () => {
              if (mine !== generation || remaining === 0) return undefined;
              const got = await src.readSome(Math.min(remaining, 1 << 20));
              if (got === undefined)
                throw new TarFormatError(`unexpected end of archive at byte ${src.offset}`);
              remaining -= got.length;
              return got;
            });
            if (chunk === undefined) return;
            yield chunk;
          }
        },
      };
      const rest = () => {
        if (pending !== 0 || mine !== generation) return undefined;
        const got = remaining === 0 ? EMPTY : src.takeExact(remaining);
        if (got !== undefined) remaining = 0;
        return got;
      };
      yield { header, body, rest };
      generation++;
      await finishCurrent(skipAfter);
    }
    await locked(() => src.drain());
    ok = true;
  } finally {
    if (!ok) await src.close().catch(() => undefined);
  }
}

/**
 * Entries of a layer in any supported compression (gzip, zstd or none, detected by magic
 * bytes). Each body is a `Readable`; read it before asking for the next entry.
 */
export async function* readEntries(input: LayerInput): AsyncGenerator<TarEntry> {
  for await (const { header, body } of parseTar(decompress(input))) {
    yield { header, body: Readable.from(body, { objectMode: false }) };
  }
}
