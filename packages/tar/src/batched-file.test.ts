import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { BatchedFileWriter, keepLentChunk, lentFileChunks, writeStreamToFile } from './batched-file.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pd-batched-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** 64 KiB chunks (a socket's reads) of random bytes, crossing several 1 MiB batches. */
function chunks(count: number, size = 64 * 1024): Buffer[] {
  return Array.from({ length: count }, () => randomBytes(size));
}

describe('writeStreamToFile', () => {
  test('writes every byte in order, in far fewer writes than chunks', async () => {
    const parts = chunks(50);
    const path = join(dir, 'all');
    const writes = vi.fn();
    const size = await writeStreamToFile(
      path,
      Readable.from(parts).on('pause', writes), // paused once per batch written
    );
    expect(size).toBe(50 * 64 * 1024);
    expect((await readFile(path)).equals(Buffer.concat(parts))).toBe(true);
    expect(writes.mock.calls.length).toBeGreaterThanOrEqual(3);
    expect(writes.mock.calls.length).toBeLessThanOrEqual(4);
  });

  test('an empty stream makes an empty file', async () => {
    const path = join(dir, 'empty');
    expect(await writeStreamToFile(path, Readable.from([]))).toBe(0);
    expect((await readFile(path)).length).toBe(0);
  });

  test('an input that fails while the file is still opening rejects, with nothing unhandled', async () => {
    const input = new PassThrough();
    const copy = writeStreamToFile(join(dir, 'early'), input);
    input.destroy(new Error('digest mismatch'));
    await expect(copy).rejects.toThrow('digest mismatch');
  });

  test('an input destroyed without an error is a premature close, not a hang', async () => {
    const input = new PassThrough();
    const copy = writeStreamToFile(join(dir, 'closed'), input);
    input.write(randomBytes(100));
    setTimeout(() => input.destroy(), 10);
    await expect(copy).rejects.toThrow(/premature close/i);
  });

  test('an abort signal stops the copy with the abort reason', async () => {
    const input = new PassThrough();
    const controller = new AbortController();
    const copy = writeStreamToFile(join(dir, 'aborted'), input, controller.signal);
    input.write(randomBytes(100));
    controller.abort(new Error('user cancelled'));
    await expect(copy).rejects.toThrow(/user cancelled|abort/);
    expect(input.destroyed).toBe(true);
  });

  test('an existing file is never overwritten: the copy fails and the input is destroyed', async () => {
    const path = join(dir, 'exists');
    await writeFile(path, 'keep me');
    const input = Readable.from(chunks(2));
    await expect(writeStreamToFile(path, input)).rejects.toMatchObject({ code: 'EEXIST' });
    expect(input.destroyed).toBe(true);
    expect(await readFile(path, 'utf8')).toBe('keep me');
  });
});

describe('BatchedFileWriter', () => {
  test('writes only when a batch fills, and flush writes the rest', async () => {
    const path = join(dir, 'writer');
    const file = await open(path, 'w');
    const out = new BatchedFileWriter(file);
    const parts = chunks(20);
    const writes = parts.map((c) => out.write(c)).filter((w) => w !== undefined);
    expect(writes).toHaveLength(1); // 16 × 64 KiB fill the first batch; 4 chunks wait
    await Promise.all(writes);
    expect((await readFile(path)).length).toBe(16 * 64 * 1024);
    await out.flush();
    await file.close();
    expect((await readFile(path)).equals(Buffer.concat(parts))).toBe(true);
  });

  test('appendFile copies whole files in order between queued chunks, each piece seen first', async () => {
    // 2.5 MiB: the copy's two buffers take several turns, and the last piece is a short one.
    const big = randomBytes((5 << 20) / 2);
    const small = randomBytes(100);
    await writeFile(join(dir, 'big'), big);
    await writeFile(join(dir, 'small'), small);
    await writeFile(join(dir, 'empty'), Buffer.alloc(0));
    const path = join(dir, 'appended');
    const file = await open(path, 'w');
    const out = new BatchedFileWriter(file);
    const head = randomBytes(1000);
    const middle = randomBytes(10);
    const seen: Buffer[] = [];
    out.write(head);
    const sizes = [
      await out.appendFile(join(dir, 'big'), (piece) => seen.push(Buffer.from(piece))),
      await out.appendFile(join(dir, 'empty')),
    ];
    out.write(middle);
    sizes.push(await out.appendFile(join(dir, 'small')));
    await out.flush();
    await file.close();
    expect(sizes).toEqual([big.length, 0, small.length]);
    expect(Buffer.concat(seen).equals(big)).toBe(true);
    expect((await readFile(path)).equals(Buffer.concat([head, big, middle, small]))).toBe(true);
  });

  test('skip leaves a region after everything queued, for positional writes running beside the writer', async () => {
    const path = join(dir, 'skipped');
    const file = await open(path, 'w');
    const out = new BatchedFileWriter(file);
    const head = chunks(20); // more than a batch: some of it is written before the skip
    const hole = randomBytes((3 << 20) / 2);
    const tail = randomBytes(100);
    await writeFile(join(dir, 'appended-after-hole'), tail);
    for (const c of head) out.write(c);
    const at = await out.skip(hole.length);
    expect(at).toBe(20 * 64 * 1024);
    // The region is filled from outside while the writer goes on after it.
    const filled = file.write(hole, 0, hole.length, at);
    out.write(tail);
    expect(await out.appendFile(join(dir, 'appended-after-hole'))).toBe(tail.length);
    expect(await out.skip(0)).toBe(at + hole.length + 2 * tail.length);
    await out.flush();
    await filled;
    await file.close();
    expect((await readFile(path)).equals(Buffer.concat([...head, hole, tail, tail]))).toBe(true);
  });

  test('appendFile stops where onChunk throws, and a missing file rejects', async () => {
    await writeFile(join(dir, 'stop'), randomBytes(3 << 20));
    const file = await open(join(dir, 'stopped'), 'w');
    const out = new BatchedFileWriter(file);
    let pieces = 0;
    await expect(
      out.appendFile(join(dir, 'stop'), () => {
        if (++pieces === 2) throw new Error('too long');
      }),
    ).rejects.toThrow('too long');
    // The writer stays failed, like after a failed write.
    await expect(out.flush()).rejects.toThrow('too long');
    await file.close();
    expect((await readFile(join(dir, 'stopped'))).length).toBe(1 << 20);
    const other = await open(join(dir, 'other'), 'w');
    await expect(new BatchedFileWriter(other).appendFile(join(dir, 'missing'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    await other.close();
  });
});

describe('lentFileChunks', () => {
  test('a read that runs to its end leaves its buffers to the next; one stopped early keeps its own', async () => {
    const a = randomBytes(3 * 1024 * 1024 + 5);
    const b = randomBytes(2 * 1024 * 1024);
    await writeFile(join(dir, 'a'), a);
    await writeFile(join(dir, 'b'), b);
    // Stopped after its first chunk, which the reader keeps (it asked for no next one).
    let kept: Buffer | undefined;
    for await (const chunk of lentFileChunks(join(dir, 'a'))) {
      kept = chunk;
      break;
    }
    const memoryOfA = kept!.buffer;
    const seen: Buffer[] = [];
    const fromB: ArrayBufferLike[] = [];
    for await (const chunk of lentFileChunks(join(dir, 'b'))) {
      fromB.push(chunk.buffer);
      seen.push(Buffer.from(chunk));
    }
    expect(Buffer.concat(seen).equals(b)).toBe(true);
    expect(fromB).not.toContain(memoryOfA);
    expect(kept!.equals(a.subarray(0, 1024 * 1024))).toBe(true);
    // b ran to its end: the next read gets its memory, and reads the right bytes into it.
    const again: Buffer[] = [];
    for await (const chunk of lentFileChunks(join(dir, 'a'), 5, 2 * 1024 * 1024)) {
      expect(fromB).toContain(chunk.buffer);
      again.push(Buffer.from(chunk));
    }
    expect(Buffer.concat(again).equals(a.subarray(5, 5 + 2 * 1024 * 1024))).toBe(true);
  });

  test('a kept chunk is not read into until it is let go, and the reading goes on meanwhile', async () => {
    const c = randomBytes(5 * 1024 * 1024 + 3);
    await writeFile(join(dir, 'c'), c);
    let letGo!: () => void;
    const writing = new Promise<void>((resolve) => {
      letGo = resolve;
    });
    let first: Buffer | undefined;
    const seen: Buffer[] = [];
    const memories: ArrayBufferLike[] = [];
    for await (const chunk of lentFileChunks(join(dir, 'c'))) {
      if (first === undefined) {
        first = chunk;
        // As a write of a slice of it would: the memory stays as it is until the write ends.
        keepLentChunk(chunk.subarray(100), writing);
      }
      memories.push(chunk.buffer);
      seen.push(Buffer.from(chunk));
    }
    // Six chunks went through two turns of buffers, none into the kept one after it.
    expect(Buffer.concat(seen).equals(c)).toBe(true);
    expect(memories.filter((m) => m === first!.buffer)).toHaveLength(1);
    expect(first!.equals(c.subarray(0, 1024 * 1024))).toBe(true);
    // Let go, it is spare memory again: a later reader that keeps every chunk (and so takes a
    // spare buffer for every read) fills it.
    letGo();
    await writing;
    await new Promise((resolve) => setImmediate(resolve));
    const later: ArrayBufferLike[] = [];
    const never = new Promise<void>(() => {});
    for await (const chunk of lentFileChunks(join(dir, 'c'))) {
      keepLentChunk(chunk, never);
      later.push(chunk.buffer);
    }
    expect(later).toContain(first!.buffer);
    expect(new Set(later).size).toBe(later.length);
  });
});
