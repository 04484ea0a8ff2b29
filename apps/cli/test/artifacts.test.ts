import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  dockerMissing,
  type Fixtures,
  fixtureImages,
  type RunningRegistry,
  registryMissing,
  skopeo,
  skopeoMissing,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, pd } from './helpers.js';

const missing = registryMissing() ?? dockerMissing() ?? skopeoMissing();
const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const EMPTY = sha256('{}');

interface Doc {
  mediaType?: string;
  artifactType?: string;
  config?: unknown;
  annotations?: Record<string, string>;
  layers: { annotations: Record<string, string> }[];
  manifests: { digest: string }[];
}

interface Listed {
  subject: string;
  source: string;
  manifests: { digest: string; artifactType?: string; mediaType: string; size: number }[];
}

/** The registry's own answer, not pd's: what a manifest is as stored. */
async function rawManifest(registry: RunningRegistry, repo: string, ref: string): Promise<Buffer> {
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${ref}`, {
    headers: {
      accept: [
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.docker.distribution.manifest.v2+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
      ].join(', '),
    },
  });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

/** Push a blob with the plain distribution API (for manifests pd itself refuses to write). */
async function putBlob(registry: RunningRegistry, repo: string, data: Buffer): Promise<string> {
  const start = await fetch(`${registry.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  const url = new URL(start.headers.get('location')!, registry.url);
  url.searchParams.set('digest', sha256(data));
  const res = await fetch(url, {
    method: 'PUT',
    body: data,
    headers: { 'content-type': 'application/octet-stream' },
  });
  expect(res.status).toBe(201);
  return sha256(data);
}

describe.skipIf(missing)('artifacts and referrers against the real registry', () => {
  let registry: RunningRegistry;
  let second: RunningRegistry;
  let fx: Fixtures;
  const iso = isolatedEnv();
  const run = (args: string[]) => pd(args, { env: iso.env });
  const files = join(iso.dir, 'files');
  let big: Buffer;

  beforeAll(async () => {
    [registry, second] = await Promise.all([startRegistry(), startRegistry()]);
    fx = await fixtureImages(registry);
    mkdirSync(files, { recursive: true });
    big = randomBytes(3 * 1024 * 1024 + 17);
    writeFileSync(join(files, 'model.bin'), big);
    writeFileSync(join(files, 'README.md'), '# hello\n');
  });
  afterAll(async () => {
    await registry?.stop();
    await second?.stop();
    iso.cleanup();
  });

  /**
   * Attach `<name>.spdx.json` to `subject`, then `<name>.sig` to that SBOM: a referrer with a
   * referrer of its own. Their digests.
   */
  async function attachSbomAndSignature(subject: string, name: string, sbomText: string, sigText: string) {
    const sbom = join(files, `${name}.spdx.json`);
    writeFileSync(sbom, sbomText);
    const attach = async (to: string, file: string, type: string) =>
      (
        JSON.parse((await run(['attach', '--json', to, file, '--artifact-type', type])).stdout) as {
          digest: string;
        }
      ).digest;
    const a = await attach(subject, sbom, 'application/spdx+json');
    const sig = join(files, `${name}.sig`);
    writeFileSync(sig, sigText);
    const repo = subject.replace(/:[^:/]+$/, '');
    const s = await attach(`${repo}@${a}`, sig, 'application/vnd.example.sig');
    return { a: { digest: a }, s: { digest: s } };
  }

  it('pd artifact push then pull gives the files back byte for byte; blobs are sent only once', async () => {
    const ref = `${registry.host}/art/model:1`;
    const push = await run([
      'artifact',
      'push',
      '--json',
      ref,
      join(files, 'model.bin'),
      `${join(files, 'README.md')}:text/markdown`,
      '--artifact-type',
      'application/vnd.example.model.v1',
      '--annotation',
      'org.example.k=v',
    ]);
    expect(push.stderr).toBe('');
    expect(push.code).toBe(0);
    const pushed = JSON.parse(push.stdout) as { digest: string; uploaded: number };
    expect(pushed.uploaded).toBe(2);

    // The manifest as the registry holds it: OCI 1.1 artifact, empty config, titles, ORAS's default type.
    const bytes = await rawManifest(registry, 'art/model', '1');
    expect(sha256(bytes)).toBe(pushed.digest);
    const m = JSON.parse(bytes.toString()) as Doc;
    expect(m.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(m.artifactType).toBe('application/vnd.example.model.v1');
    expect(m.config).toEqual({
      mediaType: 'application/vnd.oci.empty.v1+json',
      digest: EMPTY,
      size: 2,
      data: 'e30=',
    });
    expect(m.annotations).toEqual({ 'org.example.k': 'v' });
    expect(m.layers).toEqual([
      {
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: sha256(big),
        size: big.length,
        annotations: { 'org.opencontainers.image.title': 'model.bin' },
      },
      {
        mediaType: 'text/markdown',
        digest: sha256('# hello\n'),
        size: 8,
        annotations: { 'org.opencontainers.image.title': 'README.md' },
      },
    ]);

    const out = join(iso.dir, 'pulled');
    const pull = await run(['artifact', 'pull', ref, '-o', out]);
    expect(pull.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['README.md', 'model.bin']);
    expect(readFileSync(join(out, 'model.bin')).equals(big)).toBe(true);
    expect(readFileSync(join(out, 'README.md'), 'utf8')).toBe('# hello\n');
    // An -o that cannot be made: one line naming it.
    const blocked = await run(['artifact', 'pull', ref, '-o', join(out, 'README.md', 'sub')]);
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(/^pd: cannot .*README\.md/);
    expect(blocked.stderr.trim().split('\n')).toHaveLength(1);

    // Same files again under another tag: nothing is uploaded.
    const again = await run([
      'artifact',
      'push',
      '--json',
      `${registry.host}/art/model:2`,
      join(files, 'model.bin'),
    ]);
    expect(JSON.parse(again.stdout).uploaded).toBe(0);

    // pd inspect shows it as an artifact.
    const inspect = JSON.parse((await run(['inspect', ref])).stdout) as Doc;
    expect(inspect.artifactType).toBe('application/vnd.example.model.v1');
    expect(inspect.layers.map((l) => l.annotations['org.opencontainers.image.title'])).toEqual([
      'model.bin',
      'README.md',
    ]);
  });

  it('skopeo copies the artifact to an OCI layout and inspects it unchanged', async () => {
    const ref = `${registry.host}/art/model:1`;
    const stored = await rawManifest(registry, 'art/model', '1');
    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]);
    expect(Buffer.from(raw.stdout).equals(stored)).toBe(true);
    const layout = join(iso.dir, 'skopeo-layout');
    await skopeo(['copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:model`]);
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as Doc;
    expect(index.manifests[0]!.digest).toBe(sha256(stored));
    const blob = (d: string) => readFileSync(join(layout, 'blobs', 'sha256', d.slice(7)));
    expect(blob(sha256(stored)).equals(stored)).toBe(true);
    expect(blob(sha256(big)).equals(big)).toBe(true);
    // And back from the layout, skopeo's copy is the same manifest pd pushed.
    await skopeo([
      'copy',
      '--dest-tls-verify=false',
      `oci:${layout}:model`,
      `docker://${registry.host}/art/back:1`,
    ]);
    expect((await rawManifest(registry, 'art/back', '1')).equals(stored)).toBe(true);
  });

  it('pd artifact pull refuses titles that are paths, writing nothing', async () => {
    const repo = 'art/evil';
    const layer = await putBlob(registry, repo, Buffer.from('owned\n'));
    await putBlob(registry, repo, Buffer.from('{}'));
    for (const [tag, title] of [
      ['dotdot', '../escaped.txt'],
      ['abs', '/tmp/pd-artifact-abs.txt'],
      ['nested', 'a/b.txt'],
      ['dots', '..'],
    ] as const) {
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.example',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: EMPTY, size: 2 },
        layers: [
          // A good file first: it must not be written either.
          {
            mediaType: 'text/plain',
            digest: layer,
            size: 6,
            annotations: { 'org.opencontainers.image.title': 'fine.txt' },
          },
          {
            mediaType: 'text/plain',
            digest: layer,
            size: 6,
            annotations: { 'org.opencontainers.image.title': title },
          },
        ],
      });
      const res = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
        method: 'PUT',
        body: manifest,
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      });
      expect(res.status).toBe(201);
      const out = join(iso.dir, `evil-${tag}`, 'out');
      const r = await run(['artifact', 'pull', `${registry.host}/${repo}:${tag}`, '-o', out]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^pd: refusing artifact file/);
      expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
      expect(existsSync(join(iso.dir, `evil-${tag}`, 'escaped.txt'))).toBe(false);
    }
    expect(existsSync('/tmp/pd-artifact-abs.txt')).toBe(false);
  });

  it('8 parallel pd attach to one subject: pd referrers lists all 8 (tag schema on distribution 2.8)', async () => {
    const subject = fx.small.ref;
    const attached = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const file = join(files, `sbom-${i}.json`);
        writeFileSync(file, JSON.stringify({ n: i }));
        const r = await run([
          'attach',
          '--json',
          subject,
          file,
          '--artifact-type',
          i % 2 ? 'application/spdx+json' : 'application/vnd.example.sig',
        ]);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        return JSON.parse(r.stdout) as { digest: string; subject: { digest: string }; referrers: string };
      }),
    );
    for (const a of attached) {
      expect(a.subject.digest).toBe(fx.small.digest);
      expect(a.referrers).toBe('tag');
    }
    const list = JSON.parse((await run(['referrers', subject])).stdout) as Listed;
    expect(list.subject).toBe(fx.small.digest);
    expect(list.source).toBe('tag');
    expect(list.manifests.map((m) => m.digest).sort()).toEqual(attached.map((a) => a.digest).sort());
    // The tag-schema index itself, as the registry holds it.
    const repo = fx.small.ref.slice(registry.host.length + 1).replace(/[:@].*$/, '');
    const index = JSON.parse(
      (await rawManifest(registry, repo, `sha256-${fx.small.digest.slice(7)}`)).toString(),
    ) as { manifests: { digest: string }[] };
    expect(index.manifests).toHaveLength(8);

    const spdx = JSON.parse(
      (await run(['referrers', subject, '--artifact-type', 'application/spdx+json'])).stdout,
    ) as Listed;
    expect(spdx.manifests).toHaveLength(4);
    expect(spdx.manifests.every((m) => m.artifactType === 'application/spdx+json')).toBe(true);
  });

  it('pd copy --referrers carries referrers, and their referrers, to another repository and registry', async () => {
    const src = `${registry.host}/art/subject:1`;
    expect((await run(['copy', '--all-platforms', fx.multiArch.index.ref, src])).code).toBe(0);
    const { a, s } = await attachSbomAndSignature(src, 'app', '{"spdxVersion":"SPDX-2.3"}', 'signature');

    for (const dst of [`${registry.host}/art/copied:1`, `${second.host}/mirror/app:1`]) {
      const r = await run(['copy', '--referrers', '--all-platforms', '--json', src, dst]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const result = JSON.parse(r.stdout) as {
        digest: string;
        referrers: { source: string; digest: string }[];
      };
      expect(result.digest).toBe(fx.multiArch.index.digest);
      // A plain copy keeps digests, so referrers keep their bytes (subject not rewritten).
      expect(result.referrers.map((x) => [x.source, x.digest])).toEqual([
        [a.digest, a.digest],
        [s.digest, s.digest],
      ]);
      const top = JSON.parse((await run(['referrers', dst])).stdout) as Listed;
      expect(top.manifests.map((m) => m.digest)).toEqual([a.digest]);
      const repo = dst.replace(/:1$/, '');
      const nested = JSON.parse((await run(['referrers', `${repo}@${a.digest}`])).stdout) as Listed;
      expect(nested.manifests.map((m) => m.digest)).toEqual([s.digest]);
      const out = join(iso.dir, `copied-${dst.length}`);
      expect((await run(['artifact', 'pull', `${repo}@${a.digest}`, '-o', out])).code).toBe(0);
      expect(readFileSync(join(out, 'app.spdx.json'), 'utf8')).toBe('{"spdxVersion":"SPDX-2.3"}');
    }
  });

  it('pd pull --referrers keeps them in the OCI layout (skopeo and umoci still read it); pd push --referrers takes them on', async () => {
    // A Docker-format image: written into the layout as OCI, so its digest changes and the
    // referrers' subject is rewritten on the way in; the push gives the layout's digests back.
    const src = `${registry.host}/art/layout-subject:1`;
    expect((await run(['copy', fx.layered.ref, src])).code).toBe(0);
    const { a, s } = await attachSbomAndSignature(
      src,
      'layout',
      '{"spdxVersion":"SPDX-2.3","name":"layout"}',
      'layout signature',
    );

    const layout = join(iso.dir, 'with-referrers');
    const pulled = await run(['pull', '--referrers', '--json', src, '-o', layout]);
    expect(pulled.stderr).toBe('');
    expect(pulled.code).toBe(0);
    const result = JSON.parse(pulled.stdout) as {
      digest: string;
      sourceDigest: string;
      referrers: { source: string; digest: string; subject: string; artifactType: string }[];
    };
    expect(result.sourceDigest).not.toBe(result.digest);
    expect(result.referrers.map((r) => [r.source, r.artifactType])).toEqual([
      [a.digest, 'application/spdx+json'],
      [s.digest, 'application/vnd.example.sig'],
    ]);
    const [a2, s2] = result.referrers;
    expect(a2!.subject).toBe(result.digest);
    expect(s2!.subject).toBe(a2!.digest);

    // index.json: the image under its name, the referrers unnamed with their type, as oras writes them.
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
      manifests: { digest: string; artifactType?: string; annotations?: Record<string, string> }[];
    };
    const named = index.manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name']);
    expect(named.map((m) => m.digest)).toEqual([result.digest]);
    const unnamed = index.manifests.filter((m) => !m.annotations?.['org.opencontainers.image.ref.name']);
    expect(unnamed.map((m) => [m.digest, m.artifactType])).toEqual([
      [a2!.digest, 'application/spdx+json'],
      [s2!.digest, 'application/vnd.example.sig'],
    ]);
    const blob = (d: string) => readFileSync(join(layout, 'blobs', 'sha256', d.slice(7)));
    expect(sha256(blob(a2!.digest))).toBe(a2!.digest);
    expect((JSON.parse(blob(a2!.digest).toString()) as { subject: { digest: string } }).subject.digest).toBe(
      result.digest,
    );
    const sbomLayer = (JSON.parse(blob(a2!.digest).toString()) as { layers: { digest: string }[] })
      .layers[0]!;
    expect(blob(sbomLayer.digest).toString()).toBe('{"spdxVersion":"SPDX-2.3","name":"layout"}');

    // The real readers still take the layout by its tag.
    const tag = named[0]!.annotations!['org.opencontainers.image.ref.name']!;
    const { stdout: raw } = await skopeo(['inspect', '--raw', `oci:${layout}:${tag}`]);
    expect(sha256(Buffer.from(raw))).toBe(result.digest);
    execFileSync(
      'umoci',
      ['unpack', '--rootless', '--image', `${layout}:${tag}`, join(iso.dir, 'umoci-bundle')],
      {
        stdio: 'pipe',
      },
    );

    // Pushed on with --referrers: the same digests, found through the second registry.
    const dst = `${second.host}/mirror/from-layout:1`;
    const pushed = await run(['push', '--referrers', '--json', layout, dst]);
    expect(pushed.stderr).toBe('');
    expect(pushed.code).toBe(0);
    const up = JSON.parse(pushed.stdout) as {
      digest: string;
      referrers: { source: string; digest: string }[];
    };
    expect(up.digest).toBe(result.digest);
    expect(up.referrers.map((r) => [r.source, r.digest])).toEqual([
      [a2!.digest, a2!.digest],
      [s2!.digest, s2!.digest],
    ]);
    const top = JSON.parse((await run(['referrers', dst])).stdout) as Listed;
    expect(top.manifests.map((m) => m.digest)).toEqual([a2!.digest]);
    const nested = JSON.parse(
      (await run(['referrers', `${second.host}/mirror/from-layout@${a2!.digest}`])).stdout,
    ) as Listed;
    expect(nested.manifests.map((m) => m.digest)).toEqual([s2!.digest]);

    // Without the flag nothing else is written, and --referrers wants a layout.
    const plain = join(iso.dir, 'without-referrers');
    expect((await run(['pull', src, '-o', plain])).code).toBe(0);
    expect(
      (JSON.parse(readFileSync(join(plain, 'index.json'), 'utf8')) as { manifests: unknown[] }).manifests,
    ).toHaveLength(1);
    const refused = await run(['pull', '--referrers', src, '-o', join(iso.dir, 'x.tar')]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--referrers writes into an OCI layout/);
  });

  it('pd copy --all-tags copies every tag of a repository, referrers indexes included', async () => {
    const from = `${registry.host}/art/many`;
    await run(['copy', fx.small.ref, `${from}:a`]);
    await run(['copy', '--all-platforms', fx.multiArch.list.ref, `${from}:b`]);
    await run(['artifact', 'push', `${from}:c`, join(files, 'README.md')]);
    await run(['attach', `${from}:a`, join(files, 'README.md'), '--artifact-type', 'text/markdown']);
    const to = `${second.host}/all/many`;
    const r = await run(['copy', '--all-tags', from, to]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const tags = JSON.parse((await run(['tags', '--json', from])).stdout) as string[];
    expect(tags).toHaveLength(4);
    expect(JSON.parse((await run(['tags', '--json', to])).stdout)).toEqual(tags);
    // Every tag names the same bytes at both ends.
    for (const t of tags) {
      const [a, b] = await Promise.all([
        rawManifest(registry, 'art/many', t),
        rawManifest(second, 'all/many', t),
      ]);
      expect(b.equals(a)).toBe(true);
    }
    const listed = JSON.parse((await run(['referrers', `${to}:a`])).stdout) as Listed;
    expect(listed.manifests).toHaveLength(1);
  });
});

describe('pd referrers through the referrers API (a server answering as the distribution spec shows)', () => {
  // No registry with the referrers API installs here; this server answers GET /v2/<name>/referrers/<digest>
  // with the spec's example index ("Listing Referrers"), applying artifactType filters as it says.
  const subject = `sha256:${'c'.repeat(64)}`;
  const example = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: 1234,
        digest: `sha256:${'a1'.repeat(32)}`,
        artifactType: 'application/vnd.example.sbom.v1',
        annotations: {
          'org.opencontainers.image.created': '2022-01-01T14:42:55Z',
          'org.example.sbom.format': 'json',
        },
      },
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: 1234,
        digest: `sha256:${'a2'.repeat(32)}`,
        artifactType: 'application/vnd.example.signature.v1',
        annotations: {
          'org.opencontainers.image.created': '2022-01-01T07:21:33Z',
          'org.example.signature.fingerprint': 'abcd',
        },
      },
    ],
  };
  let server: Server;
  let host: string;
  const seen: string[] = [];
  const iso = isolatedEnv();

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/v2/') {
        res.writeHead(200).end('{}');
        return;
      }
      if (req.method === 'GET' && url.pathname === `/v2/app/referrers/${subject}`) {
        const type = url.searchParams.get('artifactType');
        const body = type
          ? { ...example, manifests: example.manifests.filter((m) => m.artifactType === type) }
          : example;
        res.writeHead(200, {
          'content-type': 'application/vnd.oci.image.index.v1+json',
          ...(type ? { 'oci-filters-applied': 'artifactType' } : {}),
        });
        res.end(JSON.stringify(body));
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND"}]}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    iso.cleanup();
  });

  it('lists what the endpoint answers, filters by artifact type, never reads the tag schema', async () => {
    const r = await pd(['referrers', `${host}/app@${subject}`], { env: iso.env });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ subject, source: 'api', manifests: example.manifests });
    const f = await pd(
      ['referrers', `${host}/app@${subject}`, '--artifact-type', 'application/vnd.example.signature.v1'],
      {
        env: iso.env,
      },
    );
    expect((JSON.parse(f.stdout) as Listed).manifests).toEqual([example.manifests[1]]);
    expect(seen).toContain(
      `GET /v2/app/referrers/${subject}?artifactType=application%2Fvnd.example.signature.v1`,
    );
    expect(seen.some((s) => s.includes('/manifests/sha256-'))).toBe(false);
  });
});
