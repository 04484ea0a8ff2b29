import { createServer, request } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { sha256 } from './support.js';

/**
 * Fault injection the fault proxy of test-fixtures cannot do: serve chosen bytes for chosen
 * manifest paths (documents the real registry refuses to store: wrong JSON types, a child that
 * is its own index), and forward everything else to the real registry untouched.
 */
export interface SubstituteProxy {
  host: string;
  /** Serve `body` for GET/HEAD of `/v2/<repository>/manifests/<reference>`. */
  serve(repository: string, reference: string, body: Buffer | string, mediaType: string): void;
  /** Requests answered from the substitutions, by path. */
  readonly served: Map<string, number>;
  stop(): Promise<void>;
}

export async function startSubstituteProxy(target: string): Promise<SubstituteProxy> {
  const upstream = new URL(target);
  const subs = new Map<string, { body: Buffer; mediaType: string }>();
  const served = new Map<string, number>();
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const sub = subs.get(path);
    if (sub && (req.method === 'GET' || req.method === 'HEAD')) {
      served.set(path, (served.get(path) ?? 0) + 1);
      req.resume();
      res.writeHead(200, {
        'content-type': sub.mediaType,
        'content-length': sub.body.length,
        // What a registry says for what it serves: the digest of these very bytes.
        'docker-content-digest': sha256(sub.body),
      });
      res.end(req.method === 'HEAD' ? undefined : sub.body);
      return;
    }
    const up = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    served,
    serve(repository, reference, body, mediaType) {
      subs.set(`/v2/${repository}/manifests/${reference}`, { body: Buffer.from(body), mediaType });
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
