import { connect, createServer } from 'node:net';

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Resolve once `url` answers any HTTP status, or reject after `timeoutMs`. */
export function waitForHttp(url: string, timeoutMs = 15_000): Promise<void> {
  return retryUntil(`${url} did not answer`, timeoutMs, async () => {
    const res = await fetch(url);
    await res.arrayBuffer();
  });
}

/** Wait until something accepts connections on loopback `port` (a TLS server, whose certificate fetch would refuse). */
export function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  return retryUntil(
    `127.0.0.1:${port} did not accept a connection`,
    timeoutMs,
    () =>
      new Promise<void>((resolve, reject) => {
        const socket = connect({ port, host: '127.0.0.1' }, () => {
          socket.destroy();
          resolve();
        });
        socket.on('error', reject);
      }),
  );
}

/** Try `attempt` every 50 ms until it resolves; reject with `failure` and the last error after `timeoutMs`. */
async function retryUntil(failure: string, timeoutMs: number, attempt: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await attempt();
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`${failure} within ${timeoutMs} ms: ${String(last)}`);
}
