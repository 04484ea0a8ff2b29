// A registry "far away" on loopback: a TCP proxy that holds every chunk `delayMs` each way, and a
// new connection's first bytes one round trip more (as its TCP handshake would). On loopback a
// round trip costs ~0.1 ms, so a client that makes needless ones (a new connection per request,
// a request that waits for an answer it does not need) measures the same as one that does not;
// behind this proxy each costs 2 × delayMs, as between a laptop and a registry. Each direction
// is a queue: a timer writes the oldest chunk waiting, so no chunk overtakes another.
import { connect, createServer } from 'node:net';

/** Forward `from` to `to`, each chunk (and the end) `wait()` ms after it came, in order. */
function delayed(from, to, wait) {
  const END = Symbol('end');
  const queue = [];
  const later = (item) => {
    queue.push(item);
    setTimeout(() => {
      const next = queue.shift();
      if (next === END) to.end();
      else to.write(next);
    }, wait());
  };
  from.on('data', later);
  from.on('end', () => later(END));
  from.on('error', () => to.destroy());
}

/**
 * Listen on a loopback port and forward to `target` (`host:port`) `delayMs` later each way.
 * Returns `{ host, connections(), stop() }`; `host` replaces the registry's in references.
 */
export async function startDelayProxy(target, delayMs) {
  const [targetHost, targetPort] = target.split(':');
  let connections = 0;
  const sockets = new Set();
  const server = createServer((client) => {
    connections++;
    const opened = performance.now();
    const upstream = connect({ host: targetHost, port: Number(targetPort) });
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    delayed(client, upstream, () => Math.max(delayMs, opened + 3 * delayMs - performance.now()));
    delayed(upstream, client, () => delayMs);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${server.address().port}`,
    connections: () => connections,
    stop: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
