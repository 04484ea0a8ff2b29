import { Readable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { streamChunks } from './stream-chunks.js';

const bytes = (n: number, fill: number) => Buffer.alloc(n, fill);

describe('streamChunks', () => {
  test('yields the chunks as pushed, never joined', async () => {
    const input = new Readable({ read() {} });
    const pushed = [bytes(1000, 1), bytes(2000, 2), bytes(3000, 3)];
    for (const b of pushed) input.push(b);
    input.push(null);
    const got: Buffer[] = [];
    for await (const chunk of streamChunks(input)) got.push(chunk);
    // A Readable's own iterator hands these three over as one joined copy.
    expect(got.map((b) => b.length)).toEqual([1000, 2000, 3000]);
    expect(Buffer.concat(got).equals(Buffer.concat(pushed))).toBe(true);
  });

  test('a slow consumer pauses the stream: about 1 MiB waits, not everything', async () => {
    let produced = 0;
    let consumed = 0;
    let most = 0;
    async function* source() {
      for (let i = 0; i < 128; i++) {
        produced += 64 * 1024;
        yield bytes(64 * 1024, i);
      }
    }
    for await (const chunk of streamChunks(Readable.from(source(), { objectMode: false }))) {
      consumed += chunk.length;
      most = Math.max(most, produced - consumed);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(consumed).toBe(8 * 1024 * 1024);
    expect(most).toBeLessThanOrEqual(2 * 1024 * 1024);
  });

  test("the stream's error is thrown after the chunks before it", async () => {
    const input = new Readable({ read() {} });
    input.push(bytes(10, 1));
    const got: number[] = [];
    const run = (async () => {
      for await (const chunk of streamChunks(input)) got.push(chunk.length);
    })();
    setImmediate(() => input.destroy(new Error('disk gone')));
    await expect(run).rejects.toThrow('disk gone');
    expect(got).toEqual([10]);
  });

  test('a close before the end is an error', async () => {
    const input = new Readable({ read() {} });
    setImmediate(() => input.destroy());
    await expect(
      (async () => {
        for await (const _ of streamChunks(input));
      })(),
    ).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });

  test('a consumer that stops early destroys the stream', async () => {
    const input = Readable.from([bytes(10, 1), bytes(10, 2), bytes(10, 3)], { objectMode: false });
    for await (const _ of streamChunks(input)) break;
    expect(input.destroyed).toBe(true);
  });

  test('a stream paused before is started; an ended one yields nothing; a destroyed one fails', async () => {
    const paused = Readable.from([bytes(5, 1), bytes(6, 2)], { objectMode: false });
    paused.pause();
    const got: number[] = [];
    for await (const chunk of streamChunks(paused)) got.push(chunk.length);
    expect(got).toEqual([5, 6]);

    const ended = Readable.from([bytes(5, 1)], { objectMode: false });
    for await (const _ of ended);
    const after: Buffer[] = [];
    for await (const chunk of streamChunks(ended)) after.push(chunk);
    expect(after).toEqual([]);

    const broken = new Readable({ read() {} });
    broken.on('error', () => undefined);
    broken.destroy(new Error('gone'));
    await expect(
      (async () => {
        for await (const _ of streamChunks(broken));
      })(),
    ).rejects.toThrow('gone');
  });
});
