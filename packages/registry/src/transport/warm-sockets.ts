import { connect, isIP, type Socket } from 'node:net';

// Connections opened before the blob downloads that will use them (a pull opens them while its
// manifest is on the way). A download goes on a connection of its own (socket-download.ts), so
// without them every layer waits for its connection's round trip (and TLS handshake) once the
// manifest has named it: one round trip more than skopeo or containerd, whose first blob reuses
// the manifest's connection. Each connection serves one download; those not taken are closed.

/** Where a plain socket's reads go, once a download took it (net's `onread`). */
export interface SocketReader {
  buffer(): Uint8Array;
  /** Whether the socket may read on. */
  callback(n: number, buf: Uint8Array): boolean;
}

/** A connection not taken within this time is closed: the server may have dropped it meanwhile. */
const KEEP_MS = 10_000;

/** Reads before a download took the socket: none are expected (a server speaks when asked). */
const UNTAKEN = Buffer.alloc(1024);

interface Warm {
  socket: Socket;
  /** Connected (for HTTPS: the handshake done). */
  ready: boolean;
  holder: { reader: SocketReader | undefined };
  forget: () => void;
}

/**
 * A socket for one exchange with `url`'s origin: TLS for `https:` (verified unless `insecureTls`),
 * else plain, its reads going into `holder.reader`'s buffers (set later for a warm socket).
 */
export function openSocket(
  url: URL,
  insecureTls: boolean | undefined,
  holder: { reader: SocketReader | undefined },
): Socket {
  if (url.protocol === 'https:') return connectTls(url, insecureTls);
  let socket: Socket | undefined;
  socket = connect({
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || 80),
    onread: {
      buffer: () => holder.reader?.buffer() ?? UNTAKEN,
      callback: (n, buf) => {
        if (holder.reader) return holder.reader.callback(n, buf);
        socket?.destroy(); // bytes nobody asked for: not a connection to hand to a download
        return false;
      },
    },
  });
  return socket;
}

/** A TLS connection to an `https:` URL's origin, its certificate checked unless `insecureTls`. */
export function connectTls(url: URL, insecureTls: boolean | undefined): Socket {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return process.getBuiltinModule('node:tls').connect({
    host,
    port: Number(url.port || 443),
    // SNI names a host, never an address.
    ...(isIP(host) ? {} : { servername: host }),
    rejectUnauthorized: insecureTls !== true,
    ALPNProtocols: ['http/1.1'],
  });
}

const originOf = (url: URL, insecureTls: boolean | undefined) =>
  `${url.origin} ${url.protocol === 'https:' && insecureTls === true ? 'unverified' : ''}`;

/** Connections opened ahead of the downloads that take them, by origin. */
export class WarmSockets {
  private readonly idle = new Map<string, Warm[]>();

  /**
   * Have `count` connections to `url`'s origin waiting (those already waiting count: a copy of
   * many tags asks once per tag); each serves the first download to it that asks.
   */
  open(url: URL, count: number, insecureTls?: boolean): void {
    const key = originOf(url, insecureTls);
    const list = this.idle.get(key) ?? [];
    this.idle.set(key, list);
    for (let i = list.length; i < count; i++) {
      const holder: Warm['holder'] = { reader: undefined };
      const socket = openSocket(url, insecureTls, holder);
      // Neither a connection waiting here nor its timer keeps a process alive.
      socket.unref();
      const warm: Warm = {
        socket,
        ready: false,
        holder,
        forget: () => {
          const at = list.indexOf(warm);
          if (at >= 0) list.splice(at, 1);
          socket.destroy();
        },
      };
      socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
        warm.ready = true;
      });
      // A connection refused, dropped or idle for KEEP_MS before a download took it is no longer
      // offered.
      socket.on('error', warm.forget);
      socket.once('end', warm.forget);
      socket.once('close', warm.forget);
      socket.setTimeout(KEEP_MS, warm.forget);
      list.push(warm);
    }
  }

  /**
   * A connection to `url`'s origin opened beforehand, now reading through `reader`: connected
   * already (`ready`) or still connecting. Undefined when none is waiting.
   */
  take(
    url: URL,
    insecureTls: boolean | undefined,
    reader: SocketReader,
  ): { socket: Socket; ready: boolean } | undefined {
    const list = this.idle.get(originOf(url, insecureTls));
    for (let warm = list?.shift(); warm; warm = list?.shift()) {
      const { socket } = warm;
      socket.off('error', warm.forget);
      socket.off('end', warm.forget);
      socket.off('close', warm.forget);
      socket.off('timeout', warm.forget);
      socket.setTimeout(0);
      if (socket.destroyed) {
        socket.destroy();
        continue;
      }
      warm.holder.reader = reader;
      socket.ref();
      return { socket, ready: warm.ready };
    }
    return undefined;
  }

  /** Close the connections to `url`'s origin that no download took (opened to the wrong one). */
  drop(url: URL, insecureTls?: boolean): void {
    const key = originOf(url, insecureTls);
    for (const warm of this.idle.get(key)?.splice(0) ?? []) warm.socket.destroy();
    this.idle.delete(key);
  }

  /** Close the connections no download took. */
  close(): void {
    for (const list of this.idle.values()) for (const warm of list.splice(0)) warm.socket.destroy();
    this.idle.clear();
  }
}
