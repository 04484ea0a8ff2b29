import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { createReadStream, statSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';

/**
 * A front for a real registry that behaves like one backed by object storage: blob GETs the
 * registry would answer with 200 are redirected (307) to a "storage" server on another origin
 * (`localhost:<other port>` instead of `127.0.0.1:<port>`), which serves the blob file from the
 * registry's data directory. The storage server records whether an Authorization header arrived.
 */

export interface StorageRequest {
  method: string;
  path: string;
  /** The Authorization header as received (tests assert it is absent). */
  authorization: string | undefined;
  range: string | undefined;
}

export interface RedirectServer {
  /** Front URL: use `host` as the registry part of references. */
  url: string;
  host: string;
  /** Origin blob GETs are redirected to. */
  storageUrl: string;
  storageRequests: StorageRequest[];
  /** Number of redirects handed out. */
  readonly redirects: number;
  stop(): Promise<void>;
}

const BLOB_GET = /^\/v2\/(.+)\/blobs\/(sha256|sha512):([a-f0-9]+)$/;

export async function startRedirectServer(options: {
  /** The registry's URL (`RunningRegistry.url`). */
  target: string;
  /** The registry's storage root (`RunningRegistry.dataDir`). */
  dataDir: string;
}): Promise<RedirectServer> {
  const upstream = new URL(options.target);
  const storageRequests: StorageRequest[] = [];
  let redirects = 0;

  const storage = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    storageRequests.push({
      method: req.method ?? 'GET',
      path,
      authorization: req.headers.authorization,
      range: req.headers.range,
    });
    const m = /^\/blobs\/(sha256|sha512)\/([a-f0-9]+)$/.exec(path);
    if (!m?.[1] || !m[2]) {
      res.writeHead(404).end();
      return;
    }
    const file = join(options.dataDir, 'docker/registry/v2/blobs', m[1], m[2].slice(0, 2), m[2], 'data');
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      res.writeHead(404).end();
      return;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range?.[1] ? Number(range[1]) : 0;
    if (start > size) {
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    res.writeHead(range ? 206 : 200, {
      'content-type': 'application/octet-stream',
      'content-length': size - start,
      'accept-ranges': 'bytes',
      ...(range ? { 'content-range': `bytes ${start}-${size - 1}/${size}` } : {}),
    });
    if (req.method === 'HEAD' || size === start) res.end();
    else createReadStream(file, { start }).pipe(res);
  });

  const front = createServer((req, res) => {
    const url = req.url ?? '/';
    const path = url.split('?')[0] ?? url;
    const m = req.method === 'GET' ? BLOB_GET.exec(path) : null;
    const proxy = (method: string, onResponse: (r: IncomingMessage) => void) => {
      const up = httpRequest(
        { host: upstream.hostname, port: upstream.port, method, path: url, headers: req.headers },
        onResponse,
      );
      up.on('error', () => res.destroy());
      return up;
    };
    const pass = () => {
      const up = proxy(req.method ?? 'GET', (r) => {
        res.writeHead(r.statusCode ?? 502, r.statusMessage, r.rawHeaders);
        r.pipe(res);
      });
      req.pipe(up);
    };
    if (!m) {
      pass();
      return;
    }
    // Ask the registry (with the client's credentials) whether it would serve the blob; only then
    // hand out a storage URL, as registries backed by S3 or GCS do.
    proxy('HEAD', (r) => {
      r.resume();
      if (r.statusCode !== 200) {
        pass();
        return;
      }
      redirects++;
      const sig = randomBytes(16).toString('hex');
      res.writeHead(307, {
        location: `${storageUrl}/blobs/${m[2]}/${m[3]}?X-Signature=${sig}`,
        'content-length': 0,
      });
      res.end();
    }).end();
  });

  const { address } = await lookup('localhost');
  const storagePort = await listen(storage, address);
  const frontPort = await listen(front, '127.0.0.1');
  const storageUrl = `http://localhost:${storagePort}`;
  const sockets = track(storage, track(front, new Set<Socket>()));
  return {
    url: `http://127.0.0.1:${frontPort}`,
    host: `127.0.0.1:${frontPort}`,
    storageUrl,
    storageRequests,
    get redirects() {
      return redirects;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await Promise.all([close(front), close(storage)]);
    },
  };
}

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port)),
  );
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function track(server: Server, sockets: Set<Socket>): Set<Socket> {
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return sockets;
}
