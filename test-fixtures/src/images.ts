import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { docker } from './docker.js';
import { skopeo } from './peers.js';
import { busyboxRootfsTar } from './rootfs.js';

/**
 * Images for pd's tests, made only by independent tools: the Docker engine builds (classic
 * builder, FROM a local busybox image, so no network) and pushes them to the real registry,
 * `docker manifest` makes the manifest list and skopeo the OCI index. Facts are read back from the
 * registry over plain HTTP and checked against the digest docker printed when it pushed.
 */

export const BASE_IMAGE = 'pd-fixtures/busybox:latest';
const BUILD_HASH_LABEL = 'pd.fixture.build-hash';
const BASE_PATH_ENV = 'PATH=/usr/local/bin:/usr/bin:/bin';

const MANIFEST_ACCEPT = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

// --- building -------------------------------------------------------------------------------

/** A registry to push to: a `RunningRegistry` or its `host` (`127.0.0.1:PORT`, anonymous). */
export type RegistryTarget = string | { host: string };

export type ContextFile = string | Uint8Array | { data: string | Uint8Array; mode?: number };

export interface BuildSpec {
  /** Local name for the result, e.g. `pd-fixtures/small:latest`. */
  tag: string;
  /** Local image to build FROM (default: the imported busybox base). */
  base?: string;
  /** Dockerfile lines after FROM. */
  steps: string[];
  /** Files of the build context by relative path (COPY keeps their modes). */
  context?: Record<string, ContextFile>;
}

export interface BuiltImage {
  tag: string;
  /** Image ID (the config digest). */
  id: string;
}

const dockerBuildEnv = (): NodeJS.ProcessEnv => ({ ...process.env, DOCKER_BUILDKIT: '0' });
const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

async function imageLabel(ref: string, label: string): Promise<string | undefined> {
  try {
    const { stdout } = await docker(['image', 'inspect', '--format', '{{json .Config.Labels}}', ref]);
    const labels = JSON.parse(stdout) as Record<string, string> | null;
    return labels?.[label];
  } catch {
    return undefined; // no such image
  }
}

async function imageId(ref: string): Promise<string> {
  return (await docker(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim();
}

const bases = new Map<string, Promise<BuiltImage>>();

/**
 * `docker import` the busybox rootfs (see rootfs.ts) as `tag`, with PATH set. Cached per process,
 * and across processes by a content label: an engine that has it already is not asked again.
 */
export function importBase(tag: string = BASE_IMAGE): Promise<BuiltImage> {
  let pending = bases.get(tag);
  if (!pending) {
    pending = importBaseOnce(tag);
    pending.catch(() => bases.delete(tag));
    bases.set(tag, pending);
  }
  return pending;
}

async function importBaseOnce(tag: string): Promise<BuiltImage> {
  const dir = await mkdtemp(join(tmpdir(), 'pd-base-'));
  try {
    const tar = join(dir, 'rootfs.tar');
    await busyboxRootfsTar(tar);
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(tar)) hash.update(chunk as Buffer);
    const contentHash = `${hash.digest('hex')}:${BASE_PATH_ENV}`;
    if ((await imageLabel(tag, BUILD_HASH_LABEL)) !== contentHash) {
      await docker([
        'import',
        '--change',
        `ENV ${BASE_PATH_ENV}`,
        '--change',
        `LABEL ${BUILD_HASH_LABEL}=${contentHash}`,
        tar,
        tag,
      ]);
    }
    return { tag, id: await imageId(tag) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Build `FROM base` + `steps` with the classic builder and `--network none`, one layer per
 * filesystem-changing step. Skipped when `tag` already holds a build of the same inputs.
 */
export async function buildImage(spec: BuildSpec): Promise<BuiltImage> {
  const base = spec.base ?? (await importBase()).tag;
  // FROM the ID, not the tag: another test process may re-tag the base meanwhile.
  const dockerfile = `FROM ${await imageId(base)}\n${spec.steps.join('\n')}\n`;
  const files = Object.entries(spec.context ?? {})
    .map(([path, f]): [string, Uint8Array, number] => {
      const file = typeof f === 'string' || f instanceof Uint8Array ? { data: f } : f;
      const data = typeof file.data === 'string' ? Buffer.from(file.data) : file.data;
      return [path, data, file.mode ?? 0o644];
    })
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const inputs = createHash('sha256').update(dockerfile);
  for (const [path, data, mode] of files) inputs.update(`\0${path}\0${mode}\0${data.length}\0`).update(data);
  const buildHash = inputs.digest('hex');
  if ((await imageLabel(spec.tag, BUILD_HASH_LABEL)) === buildHash) {
    return { tag: spec.tag, id: await imageId(spec.tag) };
  }

  const dir = await mkdtemp(join(tmpdir(), 'pd-build-'));
  try {
    await writeFile(join(dir, 'Dockerfile'), dockerfile);
    for (const [path, data, mode] of files) {
      const target = join(dir, path);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, data);
      await chmod(target, mode);
    }
    await buildContext(dir, spec.tag, buildHash);
    return { tag: spec.tag, id: await imageId(spec.tag) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function buildContext(dir: string, tag: string, buildHash: string, timeout = 600_000): Promise<void> {
  await docker(
    ['build', '-q', '--network', 'none', '--label', `${BUILD_HASH_LABEL}=${buildHash}`, '-t', tag, dir],
    {
      env: dockerBuildEnv(),
      timeout,
    },
  );
}

// --- pushing and reading back -----------------------------------------------------------------

export interface LayerFact {
  mediaType: string;
  digest: string;
  /** Compressed size, as in the manifest. */
  size: number;
  /** Digest of the uncompressed tar, from the config's rootfs.diff_ids. */
  diffId: string;
}

export interface PushedImage {
  /** `127.0.0.1:PORT/repository:tag` */
  ref: string;
  registry: string;
  repository: string;
  tag: string;
  /** Manifest digest as printed by `docker push`, checked against the bytes the registry serves. */
  digest: string;
  mediaType: string;
  /** Manifest size in bytes. */
  size: number;
  configDigest: string;
  layers: LayerFact[];
  /** The image config JSON as served by the registry. */
  configJson: Record<string, unknown>;
}

function registryHost(target: RegistryTarget): string {
  return typeof target === 'string' ? target : target.host;
}

interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

async function fetchManifest(host: string, repository: string, reference: string): Promise<FetchedManifest> {
  const res = await fetch(`http://${host}/v2/${repository}/manifests/${reference}`, {
    headers: { accept: MANIFEST_ACCEPT },
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  if (!res.ok)
    throw new Error(`GET manifest ${repository}:${reference}: HTTP ${res.status} ${bytes.toString()}`);
  const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  return { bytes, mediaType, digest: `sha256:${sha256(bytes)}` };
}

async function fetchJsonBlob(
  host: string,
  repository: string,
  digest: string,
): Promise<Record<string, unknown>> {
  const res = await fetch(`http://${host}/v2/${repository}/blobs/${digest}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  if (!res.ok) throw new Error(`GET blob ${repository}@${digest}: HTTP ${res.status}`);
  if (`sha256:${sha256(bytes)}` !== digest)
    throw new Error(`blob ${digest} of ${repository} does not match its digest`);
  return JSON.parse(bytes.toString()) as Record<string, unknown>;
}

interface ManifestJson {
  mediaType?: string;
  config: { digest: string };
  layers: Array<{ mediaType: string; digest: string; size: number }>;
}

/** Read a pushed image back from the registry; `expectDigest` must match the served manifest. */
export async function readPushedImage(
  target: RegistryTarget,
  repository: string,
  tag: string,
  expectDigest?: string,
): Promise<PushedImage> {
  const host = registryHost(target);
  const got = await fetchManifest(host, repository, tag);
  if (expectDigest && got.digest !== expectDigest) {
    throw new Error(`${repository}:${tag}: registry serves ${got.digest}, docker pushed ${expectDigest}`);
  }
  const manifest = JSON.parse(got.bytes.toString()) as ManifestJson;
  const configJson = await fetchJsonBlob(host, repository, manifest.config.digest);
  const diffIds = (configJson.rootfs as { diff_ids: string[] }).diff_ids;
  if (diffIds.length !== manifest.layers.length)
    throw new Error(`${repository}:${tag}: layers and diff_ids differ`);
  return {
    ref: `${host}/${repository}:${tag}`,
    registry: host,
    repository,
    tag,
    digest: got.digest,
    mediaType: got.mediaType,
    size: got.bytes.length,
    configDigest: manifest.config.digest,
    layers: manifest.layers.map((l, i) => ({
      mediaType: l.mediaType,
      digest: l.digest,
      size: l.size,
      diffId: diffIds[i]!,
    })),
    configJson,
  };
}

/**
 * `docker push` a local image as `host/repository:tag` and read it back. The registry tag is
 * removed from the engine afterwards, so `docker run --pull always <ref>` really pulls.
 */
export async function pushImage(
  local: string,
  target: RegistryTarget,
  repository: string,
  tag = 'latest',
  timeout = 600_000,
): Promise<PushedImage> {
  const ref = `${registryHost(target)}/${repository}:${tag}`;
  await docker(['tag', local, ref]);
  try {
    const { stdout } = await docker(['push', ref], { timeout });
    const m = /digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(stdout);
    if (!m) throw new Error(`docker push ${ref} printed no digest:\n${stdout}`);
    return await readPushedImage(target, repository, tag, m[1]);
  } finally {
    await docker(['image', 'rm', ref]).catch(() => undefined);
  }
}

// --- the ready-made fixtures --------------------------------------------------------------------

export interface ExpectedConfig {
  /** The whole of Config.Env, in order. */
  env: string[];
  cmd?: string[];
  entrypoint?: string[];
  workingDir: string;
  /** '' when the image sets no USER. */
  user: string;
  exposedPorts?: string[];
  labels?: Record<string, string>;
  volumes?: string[];
  stopSignal?: string;
  /** Durations in nanoseconds, as in the config JSON. */
  healthcheck?: { test: string[]; interval: number; timeout: number; retries: number };
}

export interface FixtureImage extends PushedImage {
  /** Local engine tag of the image (no registry part). */
  local: string;
  /** Regular files of the final filesystem and their exact content. */
  files: Record<string, string>;
  /** Paths that an earlier layer created and a later one deleted. */
  absent: string[];
  /** Symlinks of the final filesystem and their targets. */
  symlinks: Record<string, string>;
  /** Pairs of paths that are one inode (a tar hardlink entry). */
  hardlinks: Array<[string, string]>;
  owners: Record<string, { uid: number; gid: number }>;
  /** Permission bits of files. */
  modes: Record<string, number>;
  /** Whiteout entries (as in the tar, without a leading /) and the index of the layer holding each. */
  whiteouts: Array<{ layer: number; entry: string }>;
  config: ExpectedConfig;
}

export interface PlatformEntry {
  os: string;
  architecture: string;
  variant?: string;
  /** Digest of the Docker schema2 manifest in the manifest list. */
  digest: string;
  /** Digest of the OCI manifest skopeo wrote for the OCI index. */
  ociDigest: string;
  /** Content of /arch in that image: which entry a runner picked. */
  archFile: string;
  /** What the entry's config says: docker cannot build arm64 here, so the arm64 one says amd64. */
  configArchitecture: string;
}

export interface ManifestRef {
  ref: string;
  digest: string;
  mediaType: string;
  size: number;
}

export interface MultiArchFixture {
  /** Docker manifest list (`docker manifest create` + `push`). */
  list: ManifestRef;
  /** The same images as an OCI index with OCI manifests (`skopeo copy --all --format oci`). */
  index: ManifestRef;
  platforms: PlatformEntry[];
}

export interface Fixtures {
  small: FixtureImage;
  layered: FixtureImage;
  withUser: FixtureImage;
  multiArch: MultiArchFixture;
}

const SMALL_HELLO = 'hello from pd fixtures\n';

interface Recipe extends Omit<FixtureImage, keyof PushedImage | 'local'> {
  steps: string[];
  context?: Record<string, ContextFile>;
}

const RECIPES: Record<'small' | 'layered' | 'withUser', Recipe> = {
  // busybox + one file; 3 layers: base, COPY, WORKDIR (the classic builder commits its mkdir).
  small: {
    steps: ['COPY hello.txt /hello.txt', 'ENV GREETING=hello', 'WORKDIR /srv', 'CMD ["cat", "/hello.txt"]'],
    context: { 'hello.txt': SMALL_HELLO },
    files: { '/hello.txt': SMALL_HELLO },
    absent: [],
    symlinks: { '/bin/sh': 'busybox' },
    hardlinks: [],
    owners: { '/hello.txt': { uid: 0, gid: 0 } },
    modes: { '/hello.txt': 0o644, '/bin/busybox': 0o755 },
    whiteouts: [],
    config: {
      env: [BASE_PATH_ENV, 'GREETING=hello'],
      cmd: ['cat', '/hello.txt'],
      workingDir: '/srv',
      user: '',
    },
  },
  // 5 layers: base, files, a deleted file, an opaque directory, links + an owned file.
  layered: {
    steps: [
      'COPY files/ /',
      'RUN rm /removed.txt',
      'RUN rm -rf /data && mkdir /data && echo new > /data/new',
      'RUN ln -s /opt/run.sh /usr/local/bin/run && ln /etc/app.conf /etc/app.conf.link' +
        ' && echo owned > /home/app/owned.txt && chown app:app /home/app/owned.txt',
      'CMD ["/opt/run.sh"]',
    ],
    context: {
      'files/removed.txt': 'to be removed\n',
      'files/data/old': 'old\n',
      'files/data/sub/deep': 'deep\n',
      'files/opt/run.sh': { data: '#!/bin/sh\necho "run as $(id -u)"\n', mode: 0o755 },
      'files/etc/app.conf': 'answer=42\n',
    },
    files: {
      '/data/new': 'new\n',
      '/opt/run.sh': '#!/bin/sh\necho "run as $(id -u)"\n',
      '/etc/app.conf': 'answer=42\n',
      '/etc/app.conf.link': 'answer=42\n',
      '/home/app/owned.txt': 'owned\n',
    },
    absent: ['/removed.txt', '/data/old', '/data/sub', '/data/sub/deep'],
    symlinks: { '/usr/local/bin/run': '/opt/run.sh' },
    hardlinks: [['/etc/app.conf', '/etc/app.conf.link']],
    owners: { '/home/app/owned.txt': { uid: 1000, gid: 1000 }, '/opt/run.sh': { uid: 0, gid: 0 } },
    modes: { '/opt/run.sh': 0o755, '/etc/app.conf': 0o644, '/tmp': 0o1777 },
    whiteouts: [
      { layer: 2, entry: '.wh.removed.txt' },
      { layer: 3, entry: 'data/.wh..wh..opq' },
    ],
    config: { env: [BASE_PATH_ENV], cmd: ['/opt/run.sh'], workingDir: '', user: '' },
  },
  // Every config field a runner has to honour.
  withUser: {
    steps: [
      'COPY entrypoint.sh /usr/local/bin/entrypoint.sh',
      'USER app',
      'WORKDIR /home/app',
      'ENV APP_MODE=test',
      'EXPOSE 8080/tcp 9090/udp',
      'LABEL org.opencontainers.image.title="pd with-user fixture" pd.fixture=with-user',
      'VOLUME ["/data"]',
      'STOPSIGNAL SIGQUIT',
      'HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD ["true"]',
      'ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]',
      'CMD ["id"]',
    ],
    context: {
      'entrypoint.sh': {
        data: '#!/bin/sh\necho "entrypoint as $(id -u):$(id -g) in $(pwd)"\nexec "$@"\n',
        mode: 0o755,
      },
    },
    files: {
      '/usr/local/bin/entrypoint.sh':
        '#!/bin/sh\necho "entrypoint as $(id -u):$(id -g) in $(pwd)"\nexec "$@"\n',
    },
    absent: [],
    symlinks: {},
    hardlinks: [],
    owners: { '/home/app': { uid: 1000, gid: 1000 } },
    modes: { '/usr/local/bin/entrypoint.sh': 0o755 },
    whiteouts: [],
    config: {
      env: [BASE_PATH_ENV, 'APP_MODE=test'],
      entrypoint: ['/usr/local/bin/entrypoint.sh'],
      cmd: ['id'],
      workingDir: '/home/app',
      user: 'app',
      exposedPorts: ['8080/tcp', '9090/udp'],
      labels: { 'org.opencontainers.image.title': 'pd with-user fixture', 'pd.fixture': 'with-user' },
      volumes: ['/data'],
      stopSignal: 'SIGQUIT',
      healthcheck: { test: ['CMD', 'true'], interval: 30e9, timeout: 5e9, retries: 3 },
    },
  },
};

async function recipeImage(
  name: keyof typeof RECIPES,
  target: RegistryTarget,
  repository: string,
): Promise<FixtureImage> {
  const { steps, context, ...facts } = RECIPES[name];
  const local = `pd-fixtures/${repository.split('/').pop()}:latest`;
  await buildImage({ tag: local, steps, ...(context ? { context } : {}) });
  return { ...(await pushImage(local, target, repository)), local, ...facts };
}

const ARCHES = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
] as const;

async function multiArchImage(target: RegistryTarget): Promise<MultiArchFixture> {
  const host = registryHost(target);
  const built = await Promise.all(
    ARCHES.map(async (p) => {
      const local = `pd-fixtures/multi:${p.architecture}`;
      await buildImage({
        tag: local,
        steps: [`RUN echo ${p.architecture} > /arch`, `LABEL pd.fixture.platform=${p.os}/${p.architecture}`],
      });
      const pushed = await pushImage(local, target, 'fixtures/multi', p.architecture);
      return { p, pushed };
    }),
  );

  // docker manifest keeps state in DOCKER_CONFIG: give it a private one.
  const config = await mkdtemp(join(tmpdir(), 'pd-manifest-'));
  const env = { ...process.env, DOCKER_CONFIG: config };
  const listRef = `${host}/fixtures/multi:latest`;
  try {
    await docker(['manifest', 'create', '--insecure', listRef, ...built.map((b) => b.pushed.ref)], { env });
    for (const { p, pushed } of built) {
      const platform = [
        '--os',
        p.os,
        '--arch',
        p.architecture,
        ...('variant' in p ? ['--variant', p.variant] : []),
      ];
      await docker(['manifest', 'annotate', ...platform, listRef, pushed.ref], { env });
    }
    await docker(['manifest', 'push', '--insecure', '--purge', listRef], { env });
  } finally {
    await rm(config, { recursive: true, force: true });
  }

  const indexRef = `${host}/fixtures/multi-oci:latest`;
  await skopeo([
    'copy',
    '--all',
    '--format',
    'oci',
    '--src-tls-verify=false',
    '--dest-tls-verify=false',
    `docker://${listRef}`,
    `docker://${indexRef}`,
  ]);

  const list = await fetchManifest(host, 'fixtures/multi', 'latest');
  const index = await fetchManifest(host, 'fixtures/multi-oci', 'latest');
  type Entries = { manifests: Array<{ digest: string; platform: { architecture: string } }> };
  const ociEntries = (JSON.parse(index.bytes.toString()) as Entries).manifests;
  const listEntries = (JSON.parse(list.bytes.toString()) as Entries).manifests;
  const platforms = built.map(({ p, pushed }) => {
    const oci = ociEntries.find((m) => m.platform.architecture === p.architecture);
    if (!oci || !listEntries.some((m) => m.digest === pushed.digest)) {
      throw new Error(`multi-arch fixture: ${p.architecture} missing from the list or the index`);
    }
    return {
      ...p,
      digest: pushed.digest,
      ociDigest: oci.digest,
      archFile: `${p.architecture}\n`,
      configArchitecture: String(pushed.configJson.architecture),
    };
  });
  const ref = (r: string, m: FetchedManifest): ManifestRef => ({
    ref: r,
    digest: m.digest,
    mediaType: m.mediaType,
    size: m.bytes.length,
  });
  return { list: ref(listRef, list), index: ref(indexRef, index), platforms };
}

const fixtureCache = new Map<string, Promise<Fixtures>>();

/**
 * Build (once per engine, by content) and push the ready-made fixtures to an anonymous registry,
 * once per registry per process. Needs a Docker engine (`dockerMissing()`) and skopeo.
 */
export function fixtureImages(target: RegistryTarget): Promise<Fixtures> {
  const host = registryHost(target);
  let pending = fixtureCache.get(host);
  if (!pending) {
    pending = (async () => {
      const [small, layered, withUser, multiArch] = await Promise.all([
        recipeImage('small', host, 'fixtures/small'),
        recipeImage('layered', host, 'fixtures/layered'),
        recipeImage('withUser', host, 'fixtures/with-user'),
        multiArchImage(host),
      ]);
      return { small, layered, withUser, multiArch };
    })();
    pending.catch(() => fixtureCache.delete(host));
    fixtureCache.set(host, pending);
  }
  return pending;
}

// --- large images for benchmarks ---------------------------------------------------------------

export interface LargeImageOptions {
  /** Total size of the data files in MiB. */
  sizeMB: number;
  /** Number of data layers (each one file); the base layer comes on top of these. */
  layers: number;
}

export interface LargeImage extends PushedImage {
  local: string;
  /** Data files: path → size and sha256 (hex) of the content. */
  bigFiles: Record<string, { size: number; sha256: string }>;
}

const MiB = 1 << 20;
const LARGE_FILES_LABEL = 'pd.fixture.large-files';
const largeCache = new Map<string, Promise<LargeImage>>();

/**
 * An image of `layers` data layers totalling `sizeMB` MiB, half random (incompressible) and half
 * repetitive text, 1 MiB at a time. The content is a pure function of the options, so the engine
 * keeps one build per size and repeated calls only push (and the registry skips known blobs).
 */
export function largeImage(target: RegistryTarget, options: LargeImageOptions): Promise<LargeImage> {
  const { sizeMB, layers } = options;
  if (!(Number.isInteger(layers) && layers >= 1 && sizeMB > 0)) throw new Error('largeImage: bad options');
  const key = `v1-${sizeMB}m-${layers}l`;
  const cacheKey = `${registryHost(target)} ${key}`;
  let pending = largeCache.get(cacheKey);
  if (!pending) {
    pending = largeImageOnce(target, sizeMB, layers, key);
    pending.catch(() => largeCache.delete(cacheKey));
    largeCache.set(cacheKey, pending);
  }
  return pending;
}

async function largeImageOnce(
  target: RegistryTarget,
  sizeMB: number,
  layers: number,
  key: string,
): Promise<LargeImage> {
  const local = `pd-fixtures/large:${key}`;
  const base = await importBase();
  let files = await imageLabel(local, LARGE_FILES_LABEL);
  // Rebuild when absent or built on another base (the label of the base is part of the key).
  if (!files || (await imageLabel(local, BUILD_HASH_LABEL)) !== `${key}:${base.id}`) {
    const dir = await mkdtemp(join(tmpdir(), 'pd-large-'));
    try {
      const total = Math.round(sizeMB * MiB);
      const facts: LargeImage['bigFiles'] = {};
      const steps: string[] = [];
      for (let i = 0; i < layers; i++) {
        const size =
          i < layers - 1 ? Math.floor(total / layers) : total - Math.floor(total / layers) * (layers - 1);
        const name = `layer-${i}.bin`;
        facts[`/large/${name}`] = {
          size,
          sha256: await writeMixedData(join(dir, name), size, `${key}/${i}`),
        };
        steps.push(`COPY ${name} /large/${name}`);
      }
      files = JSON.stringify(facts);
      steps.push(`LABEL ${LARGE_FILES_LABEL}=${JSON.stringify(files)}`);
      await writeFile(join(dir, 'Dockerfile'), `FROM ${base.id}\n${steps.join('\n')}\n`);
      await buildContext(dir, local, `${key}:${base.id}`, 3_600_000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const pushed = await pushImage(local, target, 'fixtures/large', key, 3_600_000);
  return { ...pushed, local, bigFiles: JSON.parse(files) as LargeImage['bigFiles'] };
}

/** Write `size` bytes alternating 1 MiB of AES-CTR keystream and 1 MiB of text; returns the sha256. */
async function writeMixedData(file: string, size: number, seed: string): Promise<string> {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const random = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const text = Buffer.alloc(MiB);
  const line = Buffer.from(`pd large fixture ${seed}: the quick brown fox jumps over the lazy dog\n`);
  for (let o = 0; o < MiB; o += line.length) line.copy(text, o);
  const zeros = Buffer.alloc(MiB);
  const hash = createHash('sha256');
  await pipeline(function* () {
    for (let done = 0, n = 0; done < size; n++) {
      const len = Math.min(MiB, size - done);
      const chunk = n % 2 === 0 ? random.update(zeros.subarray(0, len)) : text.subarray(0, len);
      hash.update(chunk);
      yield chunk;
      done += len;
    }
  }, createWriteStream(file));
  return hash.digest('hex');
}
