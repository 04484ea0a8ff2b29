// Preload (`node --import bench/lib/stamps.mjs …`) that writes a timeline of the process to the
// file named by PD_STAMPS at exit: when the preload ran (Node's own start-up), the first socket,
// every HTTP request sent through node:http or undici (created, headers received, body ended)
// and the `exit` event. Blob bodies pd receives on raw sockets are not requests here.
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
/** A request's line in the timeline, from its creation on. */
const started = (request) => {
  const r = {
    method: request.method,
    path: request.path,
    created: t(),
    headers: undefined,
    ended: undefined,
  };
  stamps.requests.push(r);
  return r;
};
// node:http has no channel for a body's end: the response's own 'end' event (a listener for it
// does not change how the body flows).
diagnostics.subscribe('http.client.request.start', ({ request }) => {
  const r = started(request);
  request.once('response', (response) => {
    r.headers = t();
    r.status = response.statusCode;
    response.once('end', () => {
      r.ended = t();
    });
  });
});
diagnostics.subscribe('undici:request:create', ({ request }) => {
  open.set(request, started(request));
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
