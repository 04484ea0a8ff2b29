import { type FileHandle, open } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { type DigestAlgorithm, DigestHasher, DigestMismatchError, SizeMismatchError } from '@pd/oci-types';
import { type ThreadHash, threadHash } from './hash-thread.js';
import { type Head, parseHead, requestHead, SocketError, TIMEOUT_CODES } from './http1.js';
import { openSocket, type SocketReader, type WarmSockets } from './warm-sockets.js';

// A blob GET on a connection of its own, received straight into a file. Through undici every
// socket read became a Buffer, a parser callback and a stream chunk, and through node:http a
// parser call, an IncomingMessage chunk and a stream write: for a 160 MB pull most of the CPU the
// process spends (bench/results/2026-12-05-c.md: 0.3 s of CPU here against 0.75 s for a minimal
// undici program doing the same hashing and writing). Over plain HTTP the kernel reads straight
// into 1 MiB write buffers that take turns (net's `onread`, asked for the free tail of the
// current one before each read), the bytes are hashed where they land, and the body makes no
// garbage and no copy (copying it cost 20 ms of CPU per 154 MB pulled). A TLS socket has no
// `onread`: its decrypted chunks (16 KiB each, a Buffer of their own) are hashed as they come and
// written as they are, about 1 MiB of them per writev, with no HTTP parser or stream between them
// (download.ts says for which blobs); copying them into write buffers cost 26 ms of a 160 MB pull
// over TLS (bench/results/2026-12-08-tls.md). Only a body hashed on a thread is copied: the
// thread reads the shared write buffers. Anything but a 200 with a Content-Length is handed back
// to the caller, whose requester knows auth, redirects, errors and retries.

const READ_BUFFER = 256 * 1024;
const WRITE_BUFFER = 1 << 20;
/** A write buffer with less room than this is written: reads into a small tail would be small. */
const MIN_READ = 64 * 1024;
const WRITE_BUFFERS = 4;
/** A batch of TLS chunks is written once it holds this many, whatever their size (Linux's IOV_MAX). */
const MAX_CHUNKS = 1024;
/**
 * Batches of TLS chunks on their way to the sink at most (one written, one waiting) before the
 * socket pauses: on two cores a third thread writing beside the decrypting main thread and the
 * registry costs more than a paused socket (a 160 MB pull over TLS: 355 ms with 2, 366 with 4).
 */
const QUEUED_BATCHES = 2;
/**
 * Bodies this large are hashed on a worker thread (hash-thread.ts), smaller ones where they land:
 * a thread costs about 65 ms of CPU to start, what hashing 128 MiB costs on the main thread, and
 * the download waits for it (measured: four 40 MB blobs pulled in 0.67 s with threads, 0.59 s
 * without; two 540 MB blobs in 1.44-1.85 s with, 1.65-2.05 s without).
 */
export const HASH_THREAD_FROM = 128 * 1024 * 1024;
/** Response heads larger than this are not a registry's. */
const HEAD_LIMIT = 64 * 1024;

/** A blob GET whose body goes into a {@link WriteSink}. */
export interface SocketReceiveRequest {
  /** An `http:` or `https:` URL. */
  url: URL;
  /** HTTPS without checking the server's certificate (an insecure registry's own origin). */
  insecureTls?: boolean | undefined;
  headers: Record<string, string>;
  digest: string;
  algorithm: DigestAlgorithm;
  /** Expected size, when the descriptor gave one. */
  size: number | undefined;
  /** For messages: `blob sha256:… in registry/repo`. */
  what: string;
  timeouts: { connect: number; headers: number; body: number };
  signal?: AbortSignal | undefined;
  /** Told the bytes received so far, about once per MiB. */
  onBytes?: (done: number) => void;
  /** Bodies of at least this many bytes are hashed on a thread (default {@link HASH_THREAD_FROM}). */
  hashThreadFrom?: number;
  /** Connections opened beforehand; the GET takes one to its origin if one is waiting. */
  warm?: WarmSockets | undefined;
}

export interface SocketDownloadRequest extends SocketReceiveRequest {
  /** The file to create (`wx`); the caller removes it on failure. */
  path: string;
}

/** How a socket download ended: the file holds the verified blob, or the server answered otherwise. */
export type SocketDownloadOutcome =
  | { kind: 'stored'; size: number }
  | { kind: 'answered'; status: number; headers: Record<string, string> };

/** The body length of a response pd can take byte for byte: a 200, Content-Length, no coding. */
function plainLength(head: Head): number | undefined {
  const { headers } = head;
  if (head.status !== 200) return undefined;
  if (headers['transfer-encoding'] && headers['transfer-encoding'].toLowerCase() !== 'identity')
    return undefined;
  if (headers['content-encoding'] && headers['content-encoding'].toLowerCase() !== 'identity')
    return undefined;
  const length = headers['content-length'];
  return length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
}

/** GET `req.url` on a connection of its own and store the body in `req.path`, verified. */
export async function socketDownload(req: SocketDownloadRequest): Promise<SocketDownloadOutcome> {
  req.signal?.throwIfAborted();
  const file = await open(req.path, 'wx');
  try {
    return await receive(req, fileSink(file));
  } finally {
    await file.close();
  }
}

/**
 * Where the body goes: a file ({@link fileSink}), an upload's socket (blob-pipe.ts), or (in tests)
 * anything that writes like one. `write` takes chunks in order and resolves once every byte of
 * them is written; a write buffer is filled again only then.
 */
export interface WriteSink {
  write(chunks: readonly Buffer[]): Promise<void>;
}

/**
 * A file as a {@link WriteSink}: one writev per write, at `position` on (pwrite: the handle's own
 * position is left alone) or else at the handle's position; a short write is finished.
 */
export function fileSink(file: FileHandle, position?: number): WriteSink {
  let at = position;
  return {
    async write(chunks) {
      let rest = chunks;
      while (rest.length > 0) {
        const { bytesWritten } = await file.writev(rest as Buffer[], at);
        if (at !== undefined) at += bytesWritten;
        rest = after(rest, bytesWritten);
      }
    },
  };
}

/** What of `chunks` is left once their first `n` bytes are gone. */
function after(chunks: readonly Buffer[], n: number): readonly Buffer[] {
  let i = 0;
  while (i < chunks.length && n >= chunks[i]!.length) n -= chunks[i++]!.length;
  if (i === chunks.length) return [];
  return n === 0 ? chunks.slice(i) : [chunks[i]!.subarray(n), ...chunks.slice(i + 1)];
}

/**
 * The exchange itself: GET, head, body into `sink` in order, verified. Outcome `stored` once the
 * last write resolved and the digest checked out; `answered` (nothing written) for any answer but
 * a plain 200.
 */
export function receive(req: SocketReceiveRequest, sink: WriteSink): Promise<SocketDownloadOutcome> {
  return new Promise((resolve, reject) => {
    // Hashed where the bytes land (small bodies), or by a thread as each write buffer fills.
    let hasher: DigestHasher | undefined;
    let thread: ThreadHash | undefined;
    let verifying = false;
    let head: Buffer<ArrayBufferLike> | undefined;
    let length = -1;
    let received = 0;
    let reported = 0;
    let settled = false;
    const tls = req.url.protocol === 'https:';
    // A few write buffers, allocated once the length is known and used in turn: one fills while
    // the others are written (and hashed). A fresh buffer per batch costs its page faults on
    // every fill (measured: 0.45 s of a 160 MB pull on this machine), so when all are taken the
    // socket pauses instead, and the rest of the read it was handing over waits in `overflow`.
    let buffers: Buffer[] = [];
    let free: Buffer[] = [];
    let batch: Buffer | undefined;
    let fill = 0;
    // Where a read goes when no write buffer is free (or the head is still to come): copied
    // from there like any chunk.
    const spare = Buffer.allocUnsafe(READ_BUFFER);
    let overflow = Buffer.allocUnsafe(READ_BUFFER);
    let overflowed = 0;
    let writing: Promise<void> = Promise.resolve();
    // A TLS body hashed here: its chunks as they came, written in batches of about 1 MiB, at most
    // QUEUED_BATCHES of them on the way (the socket pauses at that).
    let queued: Buffer[] | undefined;
    let queuedBytes = 0;
    let inFlight = 0;

    const finish = (e: unknown, outcome?: SocketDownloadOutcome) => {
      if (settled) return;
      settled = true;
      req.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (e !== undefined) thread?.close();
      // Wait for the writes in flight: the caller removes the file next.
      writing.then(
        () => (e === undefined ? resolve(outcome!) : reject(e)),
        (we) => reject(e ?? we),
      );
    };
    const onAbort = () => finish(req.signal?.reason ?? new Error('aborted'));

    /** Copy bytes into the write buffers, flushing each one that fills. */
    const store = (bytes: Buffer<ArrayBufferLike>) => {
      let off = 0;
      while (off < bytes.length) {
        if (!batch) {
          // A read is at most READ_BUFFER; a TLS socket may hand over a chunk or two more after
          // its pause.
          if (overflowed + bytes.length - off > overflow.length) {
            const bigger = Buffer.allocUnsafe(2 * (overflowed + bytes.length - off));
            overflow.copy(bigger, 0, 0, overflowed);
            overflow = bigger;
          }
          bytes.copy(overflow, overflowed, off);
          overflowed += bytes.length - off;
          return;
        }
        const k = Math.min(bytes.length - off, WRITE_BUFFER - fill);
        bytes.copy(batch, fill, off, off + k);
        fill += k;
        off += k;
        // The buffer that holds the body's last byte waits for the verdict (complete()).
        if (fill === WRITE_BUFFER && !(off === bytes.length && received === length)) flush();
      }
    };

    /** Write the current buffer (`hash`: and have the thread hash it meanwhile). */
    const flush = (hash = true) => {
      const full = batch!;
      const n = fill;
      fill = 0;
      batch = free.pop();
      if (!batch) socket.pause();
      // The thread hashes the buffer while it is written; it is free again after both.
      const hashed = hash ? thread?.update(buffers.indexOf(full), n) : undefined;
      hashed?.catch(() => {});
      writing = writing.then(async () => {
        await sink.write([full.subarray(0, n)]);
        await hashed;
        free.push(full);
        if (batch || settled) return;
        batch = free.pop();
        const waiting = overflow.subarray(0, overflowed);
        overflowed = 0;
        store(waiting);
        complete();
        if (!settled) socket.resume();
      });
      writing.catch((e) => finish(e));
    };

    /** Write the TLS chunks queued so far. */
    const writeQueued = () => {
      const chunks = queued!;
      queued = [];
      queuedBytes = 0;
      inFlight++;
      writing = writing.then(async () => {
        await sink.write(chunks);
        inFlight--;
        if (!settled && socket.isPaused() && inFlight < QUEUED_BATCHES) socket.resume();
      });
      writing.catch((e) => finish(e));
    };

    /** Queue a TLS chunk, writing the batch once it is full (the one with the body's last byte waits for the verdict). */
    const enqueue = (bytes: Buffer<ArrayBufferLike>) => {
      queued!.push(bytes as Buffer);
      queuedBytes += bytes.length;
      if ((queuedBytes >= WRITE_BUFFER || queued!.length >= MAX_CHUNKS) && received < length) writeQueued();
    };

    /** Whether more bytes may come: a write buffer is free, or a batch of chunks may go on the way. */
    const accepting = () => (queued ? inFlight < QUEUED_BATCHES : batch !== undefined);

    /**
     * Once every byte arrived and sits in a write buffer (or the queue): the digest, then the last
     * write, so a sink never gets the whole of a blob that is not the one asked for (an upload it
     * feeds would complete).
     */
    const complete = () => {
      if (settled || verifying || received !== length || overflowed > 0 || !(queued || batch)) return;
      verifying = true;
      const verdict = (actual: string) => {
        if (actual !== req.digest) return finish(new DigestMismatchError(req.what, req.digest, actual));
        if (fill > 0) flush(false);
        if (queuedBytes > 0) writeQueued();
        req.onBytes?.(received);
        finish(undefined, { kind: 'stored', size: received });
      };
      if (hasher) return verdict(hasher.digest());
      const last = fill > 0 ? thread!.update(buffers.indexOf(batch!), fill) : undefined;
      Promise.all([last, writing])
        .then(() => thread!.digest())
        .then(verdict, (e) => finish(e));
    };

    /** Body bytes: `inPlace` when the socket read them into the current write buffer at `fill`. */
    const body = (chunk: Buffer<ArrayBufferLike>, inPlace = false) => {
      const take = Math.min(chunk.length, length - received);
      const bytes = take === chunk.length ? chunk : chunk.subarray(0, take);
      hasher?.update(bytes);
      received += take;
      if (queued) enqueue(bytes);
      else if (!inPlace) store(bytes);
      else {
        fill += take;
        if (WRITE_BUFFER - fill < MIN_READ && received < length) flush();
      }
      if (received - reported >= WRITE_BUFFER) {
        reported = received;
        req.onBytes?.(received);
      }
      complete();
    };

    const onHead = (chunk: Buffer<ArrayBufferLike>) => {
      head = head ? Buffer.concat([head, chunk]) : Buffer.from(chunk);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > HEAD_LIMIT) finish(new SocketError('response head too large', 'EPROTO'));
        return;
      }
      const parsed = parseHead(head.subarray(0, end).toString('latin1'));
      const plain = plainLength(parsed);
      if (plain === undefined) return finish(undefined, { kind: 'answered', ...parsed });
      if (req.size !== undefined && plain !== req.size) {
        return finish(new SizeMismatchError(req.what, req.size, plain));
      }
      length = plain;
      if (length >= (req.hashThreadFrom ?? HASH_THREAD_FROM)) {
        thread = threadHash(req.algorithm, WRITE_BUFFERS, WRITE_BUFFER);
        buffers = thread.buffers;
      } else if (tls) {
        hasher = new DigestHasher(req.algorithm);
        queued = [];
      } else {
        hasher = new DigestHasher(req.algorithm);
        buffers = Array.from({ length: WRITE_BUFFERS }, () => Buffer.allocUnsafe(WRITE_BUFFER));
      }
      free = buffers.slice(1);
      batch = buffers[0];
      socket.setTimeout(req.timeouts.body);
      const rest = head.subarray(end + 4);
      head = undefined;
      if (length === 0) return body(Buffer.alloc(0));
      if (rest.length > 0) body(rest);
    };

    /** Bytes from the socket; whether it may read on (not while the write buffers are all taken). */
    const arrive = (chunk: Buffer<ArrayBufferLike>, inPlace: boolean): boolean => {
      if (settled) return false;
      try {
        if (length < 0) onHead(chunk);
        else body(chunk, inPlace);
      } catch (e) {
        finish(e);
      }
      return !settled && (length < 0 || accepting());
    };

    let connected = false;
    const reader: SocketReader = {
      // Asked before each read: the free tail of the write buffer once the body flows.
      // (Not past the body's end: the buffer with its last byte may be full, waiting.)
      buffer: () => (batch && length >= 0 && received < length && !settled ? batch.subarray(fill) : spare),
      callback: (n, buf) => {
        if (settled) return false;
        const chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
        const inPlace =
          batch !== undefined && buf.buffer === batch.buffer && buf.byteOffset === batch.byteOffset + fill;
        // false pauses reading: while the write buffers are all taken, nothing may arrive.
        return arrive(chunk, inPlace);
      },
    };
    // A connection opened ahead for it (warm-sockets.ts), else a new one.
    const warm = req.warm?.take(req.url, req.insecureTls, reader);
    const socket: Socket = warm?.socket ?? openSocket(req.url, req.insecureTls, { reader });
    if (tls) {
      socket.on('data', (chunk: Buffer) => {
        if (!arrive(chunk, false) && !settled) socket.pause();
      });
    }
    socket.setNoDelay(true);
    socket.setTimeout(req.timeouts.connect);
    // Connected means the TLS handshake done, for HTTPS: it is part of the connect phase.
    const send = () => {
      connected = true;
      socket.setTimeout(req.timeouts.headers);
      socket.write(requestHead('GET', req.url, req.headers));
    };
    if (warm?.ready) send();
    else socket.once(tls ? 'secureConnect' : 'connect', send);
    // Once every byte is in (the digest may still be on its way from the hashing thread), what
    // the connection does next no longer matters.
    socket.on('timeout', () => {
      if (verifying) return;
      const phase = length < 0 ? (connected ? 'headers' : 'connect') : 'body';
      finish(new SocketError(`${phase} timeout`, TIMEOUT_CODES[phase]));
    });
    socket.on('error', (e) => {
      if (!verifying) finish(e);
    });
    socket.on('end', () => {
      if (length < 0 || received < length) {
        finish(
          new SocketError(
            length < 0
              ? 'connection closed before the response head'
              : `connection closed after ${received} of ${length} bytes`,
            'ECONNRESET',
          ),
        );
      }
    });
    req.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
