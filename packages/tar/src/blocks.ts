/**
 * Cut a byte stream into fixed-size blocks, compress them concurrently and emit the results
 * in order. Block boundaries depend only on byte counts, never on how the input was chunked or
 * on which job finishes first, so the output is identical on any machine and core count.
 * At most `inFlight` blocks are being compressed; input is not read further until the oldest
 * result was handed on (backpressure from the consumer reaches the producer).
 */
export interface BlockJob {
  /** The block's bytes: a fresh, unpooled buffer the job may transfer to a worker. */
  data: Buffer;
  /** A private copy of the last `keepTail` bytes of the previous block (for dictionaries). */
  tail: Buffer | undefined;
  /** True for the final block; it may be empty. */
  last: boolean;
  index: number;
}

export interface BlockOptions {
  blockSize: number;
  inFlight: number;
  /** Bytes of each block to keep for the next job's `tail`. */
  keepTail?: number;
  /** Sees every block before it is handed to `compress` (e.g. to update a CRC). */
  onBlock?: (block: Buffer) => void;
}

export async function* compressBlocks(
  source: AsyncIterable<Buffer>,
  options: BlockOptions,
  compress: (job: BlockJob) => Promise<Buffer>,
): AsyncGenerator<Buffer> {
  const { blockSize, inFlight, keepTail = 0, onBlock } = options;
  const queue: Promise<Buffer>[] = [];
  let block = Buffer.allocUnsafeSlow(blockSize);
  let fill = 0;
  let tail: Buffer | undefined;
  let index = 0;
  const submit = (data: Buffer, last: boolean) => {
    onBlock?.(data);
    const nextTail = keepTail > 0 ? copyOf(data.subarray(Math.max(0, data.length - keepTail))) : undefined;
    const p = compress({ data, tail, last, index: index++ });
    p.catch(() => undefined); // awaited in order below; keep early failures from being "unhandled"
    queue.push(p);
    tail = nextTail;
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
    submit(copyOf(block.subarray(0, fill)), true);
    while (queue.length > 0) yield await queue.shift()!;
  } finally {
    for (const p of queue) p.catch(() => undefined);
  }
}

/** A copy in its own ArrayBuffer (never the shared Buffer pool), safe to transfer. */
function copyOf(b: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(b.length);
  b.copy(out);
  return out;
}
