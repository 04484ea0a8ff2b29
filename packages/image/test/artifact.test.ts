import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestOf, MediaType } from '@pd/oci-types';
import { RegistryClient } from '@pd/registry';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  checkTitle,
  EMPTY_CONFIG,
  pullArtifact,
  pushArtifact,
  UnsafeArtifactTitleError,
} from '../src/artifact.js';
import { attach, copyReferrers, listReferrers, resolveDescriptor } from '../src/referrers.js';
import { type Env, fixturesMissing, startEnv } from './helpers.js';

test('the empty config descriptor is the bytes {} with their digest and size', () => {
  const bytes = Buffer.from(EMPTY_CONFIG.data!, 'base64');
  expect(bytes.toString()).toBe('{}');
  expect(EMPTY_CONFIG.digest).toBe(digestOf(bytes));
  expect(EMPTY_CONFIG.size).toBe(bytes.length);
});

describe('artifact titles', () => {
  test.each(['', '.', '..', '../x', 'a/b', '/etc/passwd', 'a\\b', 'x\0y'])('%j is refused', (t) => {
    expect(() => checkTitle(t)).toThrow(UnsafeArtifactTitleError);
  });
  test.each(['file.txt', '..hidden', 'a..b', 'sbom.spdx.json'])('%j is a file name', (t) => {
    expect(() => checkTitle(t)).not.toThrow();
  });
});

describe.skipIf(fixturesMissing())('artifacts and referrers in the real registry', () => {
  let env: Env;
  let dir: string;
  beforeAll(async () => {
    env = await startEnv();
    dir = mkdtempSync(join(tmpdir(), 'pd-artifact-'));
  });
  afterAll(async () => {
    await env?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('file bytes cross the wire once: a second push of the same file sends none', async () => {
    const data = randomBytes(8 * 1024 * 1024 + 3);
    const file = join(dir, 'data.bin');
    writeFileSync(file, data);
    const repo = `${env.proxy.host}/lib/once`;
    env.proxy.resetStats();
    const first = await pushArtifact(`${repo}:1`, {
      artifactType: 'x/y',
      files: [{ path: file }],
      client: env.client,
    });
    const sent = () => env.proxy.requests().reduce((n, r) => n + r.requestBytes, 0);
    const firstBytes = sent();
    expect(first.uploaded).toBe(1);
    expect(firstBytes).toBeGreaterThanOrEqual(data.length);
    expect(firstBytes).toBeLessThan(data.length + 64 * 1024);
    env.proxy.resetStats();
    const second = await pushArtifact(`${repo}:2`, {
      artifactType: 'x/y',
      files: [{ path: file }],
      client: env.client,
    });
    expect(second.uploaded).toBe(0);
    expect(sent()).toBeLessThan(4096);
    expect(second.descriptor.digest).toBe(first.descriptor.digest);
    const pulled = await pullArtifact(`${repo}:2`, join(dir, 'out'), { client: env.client });
    expect(pulled.files.map((f) => [f.title, f.digest])).toEqual([['data.bin', digestOf(data)]]);
    expect(readFileSync(join(dir, 'out', 'data.bin')).equals(data)).toBe(true);
  });

  test('a document held in memory (an SBOM a program made) attaches and pulls back as a file', async () => {
    const data = new TextEncoder().encode('{"spdxVersion":"SPDX-2.3","name":"x"}');
    const a = await attach(env.fixtures.withUser.ref, {
      artifactType: 'application/spdx+json',
      files: [{ data, title: 'sbom.spdx.json', mediaType: 'application/spdx+json' }],
      client: env.client,
    });
    const repo = env.fixtures.withUser.ref.replace(/:[^:/]*$/, '');
    const pulled = await pullArtifact(`${repo}@${a.descriptor.digest}`, join(dir, 'sbom'), {
      client: env.client,
    });
    expect(pulled.artifactType).toBe('application/spdx+json');
    expect(pulled.files.map((f) => [f.title, f.mediaType])).toEqual([
      ['sbom.spdx.json', 'application/spdx+json'],
    ]);
    expect(readFileSync(join(dir, 'sbom', 'sbom.spdx.json')).equals(Buffer.from(data))).toBe(true);
    const listed = await listReferrers(env.fixtures.withUser.ref, {
      client: env.client,
      artifactType: 'application/spdx+json',
    });
    expect(listed.manifests.map((m) => m.digest)).toContain(a.descriptor.digest);
  });

  test('16 concurrent attaches in one process (all reading the index at once) lose none', async () => {
    const subject = env.fixtures.layered.ref;
    const pushed = await Promise.all(
      Array.from({ length: 16 }, (_, i) => {
        const file = join(dir, `att-${i}.txt`);
        writeFileSync(file, `attachment ${i}\n`);
        return attach(subject, { artifactType: 'text/plain', files: [{ path: file }], client: env.client });
      }),
    );
    const listed = await listReferrers(subject, { client: env.client });
    expect(listed.source).toBe('tag');
    expect(listed.manifests.map((m) => m.digest).sort()).toEqual(
      pushed.map((p) => p.descriptor.digest).sort(),
    );
  });

  test('copyReferrers rewrites the subject only when the subject digest changed', async () => {
    const src = env.fixtures.small.ref;
    const file = join(dir, 'note.txt');
    writeFileSync(file, 'note\n');
    const a = await attach(src, { artifactType: 'text/plain', files: [{ path: file }], client: env.client });
    const from = await resolveDescriptor(src, { client: env.client });
    const repo = { registry: env.registry.host, repository: 'lib/rewritten' };
    // A different manifest stands in for "the copy got another digest" (as a format conversion would).
    const other = await resolveDescriptor(env.fixtures.withUser.ref, { client: env.client });
    const copied = await copyReferrers(
      {
        registry: env.registry.host,
        repository: src.slice(env.registry.host.length + 1).replace(/[:@].*$/, ''),
        digest: from.digest,
      },
      repo,
      other,
      { client: env.client },
    );
    expect(copied).toHaveLength(1);
    expect(copied[0]!.source).toBe(a.descriptor.digest);
    expect(copied[0]!.digest).not.toBe(a.descriptor.digest);
    const got = await env.client.getManifest({ ...repo, digest: copied[0]!.digest });
    const doc = JSON.parse(got.bytes.toString()) as { subject: { digest: string }; layers: unknown };
    expect(doc.subject.digest).toBe(other.digest);
    expect(doc.layers).toEqual(a.manifest.layers);
    const listed = await listReferrers({ ...repo, digest: other.digest }, { client: env.client });
    expect(listed.manifests.map((m) => m.digest)).toEqual([copied[0]!.digest]);
  });
});

describe('putReferrer on a registry with the referrers API', () => {
  // A server that, as the distribution spec says of registries with the API, answers the PUT of a
  // manifest with a subject with `OCI-Subject`: the client must then not touch the tag schema.
  let server: Server;
  let host: string;
  const seen: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/v2/') return res.writeHead(200).end('{}');
        const m = /^\/v2\/app\/manifests\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '');
        if (req.method === 'PUT' && m) {
          const body = Buffer.concat(chunks);
          const subject = (JSON.parse(body.toString()) as { subject: { digest: string } }).subject.digest;
          return res
            .writeHead(201, {
              'docker-content-digest': digestOf(body),
              'oci-subject': subject,
              location: req.url,
            })
            .end();
        }
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND"}]}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('the registry indexes it: no tag-schema index is read or written', async () => {
    const client = new RegistryClient();
    try {
      const subject = { mediaType: MediaType.OciManifest, digest: digestOf('subject'), size: 7 };
      const bytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          artifactType: 'text/plain',
          config: { mediaType: MediaType.OciEmpty, digest: digestOf('{}'), size: 2 },
          layers: [],
          subject,
        }),
      );
      const put = await client.putReferrer(
        { registry: host, repository: 'app' },
        bytes,
        MediaType.OciManifest,
      );
      expect(put).toEqual({ digest: digestOf(bytes), via: 'api', writes: 0 });
      expect(seen.filter((s) => s !== 'GET /v2/')).toEqual([`PUT /v2/app/manifests/${digestOf(bytes)}`]);
    } finally {
      await client.close();
    }
  });
});

describe('putReferrer on a registry that honours If-Match', () => {
  // Distribution 2.8 ignores conditional requests; this server keeps the tag-schema index as a
  // registry that honours them would, and lets another writer add an entry between pd's read
  // and pd's write once: pd must get its 412 and merge into the newer index.
  const subject = digestOf('subject');
  const tagPath = `/v2/app/manifests/sha256-${subject.slice(7)}`;
  const other = {
    mediaType: MediaType.OciManifest,
    digest: digestOf('other'),
    size: 5,
    artifactType: 'x/other',
  };
  let index: Buffer | undefined;
  let interfered = false;
  const ifMatch: (string | undefined)[] = [];
  let server: Server;
  let host: string;
  const etag = (b: Buffer) => `"${digestOf(b)}"`;
  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (req.url === '/v2/') return res.writeHead(200).end('{}');
        if (req.url === tagPath && req.method === 'GET') {
          if (!index) return res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[]}');
          return res
            .writeHead(200, {
              'content-type': MediaType.OciIndex,
              etag: etag(index),
              'content-length': index.length,
            })
            .end(index);
        }
        if (req.url === tagPath && req.method === 'PUT') {
          ifMatch.push(req.headers['if-match']);
          if (!interfered) {
            // Another writer gets in first.
            interfered = true;
            index = Buffer.from(
              JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [other] }),
            );
          }
          const current = index ? etag(index) : undefined;
          const matches = req.headers['if-match']
            ? req.headers['if-match'] === current
            : req.headers['if-none-match'] !== '*' || !current;
          if (!matches) return res.writeHead(412).end();
          index = body;
          return res.writeHead(201, { 'docker-content-digest': digestOf(body) }).end();
        }
        if (req.method === 'PUT' && req.url?.startsWith('/v2/app/manifests/sha256:')) {
          return res.writeHead(201, { 'docker-content-digest': digestOf(body) }).end();
        }
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[]}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('a 412 makes pd read the newer index and merge into it', async () => {
    const client = new RegistryClient();
    try {
      const bytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          artifactType: 'x/mine',
          config: { mediaType: MediaType.OciEmpty, digest: digestOf('{}'), size: 2 },
          layers: [],
          subject: { mediaType: MediaType.OciManifest, digest: subject, size: 7 },
        }),
      );
      const put = await client.putReferrer(
        { registry: host, repository: 'app' },
        bytes,
        MediaType.OciManifest,
        {
          settleMs: 10,
        },
      );
      expect(put.via).toBe('tag');
      // First write: create-only (If-None-Match), refused; second: If-Match on the newer index.
      expect(ifMatch).toEqual([undefined, expect.stringMatching(/^"sha256:/)]);
      const final = JSON.parse(index!.toString()) as {
        manifests: { digest: string; artifactType?: string }[];
      };
      expect(final.manifests.map((m) => [m.digest, m.artifactType])).toEqual([
        [other.digest, 'x/other'],
        [digestOf(bytes), 'x/mine'],
      ]);
    } finally {
      await client.close();
    }
  });
});
