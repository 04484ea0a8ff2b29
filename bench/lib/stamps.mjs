// Preload (`node --import bench/lib/stamps.mjs …`) that writes a timeline of the process to the
// file named by PD_STAMPS at exit: when the preload ran (Node's own start-up), the first socket,
// every HTTP request undici sent (created, headers received, body ended) and the `exit` event.
// Times are performance.now(): ms since the process started. No pd code is touched, so the
// same preload times any Node program.
import diagnostics from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';

const file = process.env.PD_STAMPS;
const t = () => Math.round(performance.now() * 10) / 10;
const stamps = {
  preload: t(),
  firstSocket: undefined,
  firstConnect: undefined,
  requests: [],
  exit: undefined,
};
const open = new Map();

diagnostics.subscribe('net.client.socket', ({ socket }) => {
  if (stamps.firstSocket !== undefined) return;
  stamps.firstSocket = t();
  socket.once('connect', () => {
    stamps.firstConnect = t();
  });
});
diagnostics.subscribe('undici:request:create', ({ request }) => {
  const r = {
    method: request.method,
    path: request.path,
    created: t(),
    headers: undefined,
    ended: undefined,
  };
  open.set(request, r);
  stamps.requests.push(r);
});
diagnostics.subscribe('undici:request:headers', ({ request, response }) => {
  const r = open.get(request);
  if (r) {
    r.headers = t();
    r.status = response.statusCode;
  }
});
diagnostics.subscribe('undici:request:trailers', ({ request }) => {
  const r = open.get(request);
  if (r) r.ended = t();
});
process.once('exit', () => {
  stamps.exit = t();
  if (file) writeFileSync(file, JSON.stringify(stamps));
});
