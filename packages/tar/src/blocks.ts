/**
 * Cut a byte stream into fixed-size blocks, compress them concurrently and emit the results
 * in order. Block boundaries depend only on byte counts, never on how the input was chunked or
 * on which job finishes first, so the output is identical on any machine and core count.
 * At most `inFlight` blocks are being compressed; input is not read further until the oldest
 * result was handed on (backpressure from the consumer reaches the producer).
 */
export interface BlockJob {
  /** The block's bytes (freshly allocated, may be transferred to a worker). */
  data: Buffer;
  /** The block before it (for dictionaries), if any. */
  previous: Buffer | undefined;
  /** True for the final block; it may be empty. */
  last: boolean;
  index: number;
}

export async function* compressBlocks(
  source: AsyncIterable<Buffer>,
  blockSize: number,
  inFlight: number,
  compress: (job: BlockJob) => Promise<Buffer>,
  onBlock?: (block: Buffer) => void,
): AsyncGenerator<Buffer> {
  const queue: Promise<Buffer>[] = [];
  let block = Buffer.allocUnsafeSlow(blockSize);
  let fill = 0;
  let previous: Buffer | undefined;
  let index = 0;
  const submit = (data: Buffer, last: boolean) => {
    onBlock?.(data);
    const p = compress({ data, previous, last, index: index++ });
    p.catch(() => undefined); // awaited in order below; keep early failures from being "unhandled"
    queue.push(p);
    previous = data;
  };
  try {
    for await (const chunk of source) {
      let pos = 0;
      while (pos < chunk.length) {
        const n = Math.min(blockSize - fill, chunk.length - pos);
        chunk.copy(block, fill, pos, pos + n);
        fill += n;
        pos += n;
        if (fill === blockSize) {
          submit(block, false);
          block = Buffer.allocUnsafeSlow(blockSize);
          fill = 0;
          while (queue.length >= inFlight) yield await queue.shift()!;
        }
      }
    }
    // A fresh buffer, so a transferred (detached) block can never be aliased.
    const tail = Buffer.allocUnsafeSlow(fill);
    block.copy(tail, 0, 0, fill);
    submit(tail, true);
    while (queue.length > 0) yield await queue.shift()!;
  } finally {
    for (const p of queue) p.catch(() => undefined);
  }
}
