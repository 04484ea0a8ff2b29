#!/usr/bin/env node
// Blob download benchmark: pd (@pd/registry) against `skopeo copy docker://… oci:DIR`, with the
// Node ladder of lib/node-fetch-floor.mjs (raw socket, raw socket + sha256 + files, node:http +
// sha256, undici + files) in-process.
// Both fetch the manifest, the config and every layer of a multi-layer image of a few hundred MB
// (random and compressible layers) from a local CNCF registry into an OCI-layout directory,
// verifying digests. Target: pd at least 2x faster than skopeo.
// This is the library-level case (the @pd/registry client in-process); bench/cases/pull.mjs and copy.mjs hold
// the harness's CLI-level pull/copy cases.
// Usage: pnpm --filter @pd/registry... build && node bench/cases/registry-blobs.mjs [iterations]
// A harness can `import { run } from './cases/registry-blobs.mjs'` and call run({ iterations }).
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { createGzip } from 'node:zlib';
import { fetchBlobs } from '../lib/node-fetch-floor.mjs';

const execFileP = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const work = join(root, 'bench', '.work', 'registry-blobs');
const MB = 1 << 20;
const DATA_VERSION = '1';
const REPO = 'bench/blobs';
const TAG = 'v1';

// Layers: incompressible random data and source-like text that gzip shrinks about 4x.
const LAYERS = [
  { name: 'random-a', kind: 'random', size: 96 * MB },
  { name: 'random-b', kind: 'random', size: 64 * MB },
  { name: 'random-c', kind: 'random', size: 48 * MB },
  { name: 'text-a', kind: 'text', size: 112 * MB },
  { name: 'text-b', kind: 'text', size: 64 * MB },
  { name: 'small', kind: 'text', size: 4096 },
];

async function loadClient() {
  const dist = join(root, 'packages', 'registry', 'dist', 'index.js');
  if (!existsSync(dist)) throw new Error('build first: pnpm --filter @pd/registry... build');
  return import(pathToFileURL(dist).href);
}

function which(tool) {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin']) {
    if (dir && existsSync(join(dir, tool))) return join(dir, tool);
  }
  return undefined;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** The CNCF registry on a free loopback port, storage kept in bench/.work between runs. */
async function startRegistry() {
  const bin = which('docker-registry');
  if (!bin) throw new Error('docker-registry is not installed (apt-get install docker-registry)');
  const port = await freePort();
  await mkdir(join(work, 'registry'), { recursive: true });
  const config = join(work, 'registry.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog: {disabled: true}',
      'storage:',
      `  filesystem: {rootdirectory: ${JSON.stringify(join(work, 'registry'))}}`,
      '  maintenance: {uploadpurging: {enabled: false}}',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child = spawn(bin, ['serve', config], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await (await fetch(`${url}/v2/`)).arrayBuffer();
      break;
    } catch {
      if (i > 200 || child.exitCode !== null) throw new Error('registry did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { host: `127.0.0.1:${port}`, url, stop: () => child.kill('SIGTERM') };
}

/** Source-like text from random words (deterministic enough; compresses like code). */
function textChunk(size) {
  const words =
    'const let return import export function await async class interface stream layer digest manifest registry buffer'.split(
      ' ',
    );
  const rnd = randomBytes(size / 4 + 16);
  let out = '';
  let i = 0;
  while (out.length < size) {
    out += `${'  '.repeat(rnd[i++ % rnd.length] % 4)}${words[rnd[i++ % rnd.length] % words.length]} id${rnd[i++ % rnd.length]} = ${rnd[i++ % rnd.length]};\n`;
  }
  return Buffer.from(out.slice(0, size));
}

/** One file per layer in a docker build context (kept between runs). */
async function buildContext() {
  const ctx = join(work, `context-${DATA_VERSION}`);
  if (existsSync(join(ctx, 'Dockerfile'))) return ctx;
  await rm(ctx, { recursive: true, force: true });
  for (const layer of LAYERS) {
    await mkdir(join(ctx, layer.name), { recursive: true });
    const out = createWriteStream(join(ctx, layer.name, 'data'));
    for (let done = 0; done < layer.size; done += 4 * MB) {
      const n = Math.min(4 * MB, layer.size - done);
      const chunk = layer.kind === 'random' ? randomBytes(n) : textChunk(n);
      if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
    }
    await new Promise((resolve, reject) => out.end((e) => (e ? reject(e) : resolve())));
  }
  const dockerfile = ['FROM scratch', ...LAYERS.map((l) => `COPY ${l.name} /${l.name}`)].join('\n');
  await writeFile(join(ctx, 'Dockerfile'), `${dockerfile}\n`);
  return ctx;
}

async function dockerAvailable() {
  const host = process.env.PD_TEST_DOCKER_HOST || process.env.DOCKER_HOST;
  if (!host || !which('docker')) return undefined;
  try {
    await execFileP('docker', ['-H', host, 'version', '--format', '{{.Server.Version}}'], {
      timeout: 10_000,
    });
    return host;
  } catch {
    return undefined;
  }
}

/** Seed with docker (build + push) when an engine answers, else with pd's own client. */
async function seed(registry, client) {
  const existing = await client.headManifest({ registry: registry.host, repository: REPO, tag: TAG });
  if (existing) return 'kept from a previous run';
  const ctx = await buildContext();
  const dockerHost = await dockerAvailable();
  if (dockerHost) {
    const ref = `${registry.host}/${REPO}:${TAG}`;
    const opts = { maxBuffer: 64 * MB, env: { ...process.env, DOCKER_BUILDKIT: '0' } };
    await execFileP('docker', ['-H', dockerHost, 'build', '-q', '-t', ref, ctx], opts);
    await execFileP('docker', ['-H', dockerHost, 'push', ref], opts);
    await execFileP('docker', ['-H', dockerHost, 'rmi', ref], opts).catch(() => undefined);
    return 'pushed with docker';
  }
  await seedWithPd(registry, client, ctx);
  return 'pushed with pd';
}

async function seedWithPd(registry, client, ctx) {
  const repo = { registry: registry.host, repository: REPO };
  const layers = [];
  const diffIds = [];
  for (const layer of LAYERS) {
    // A one-file tar made by GNU tar, gzipped here; digest and diffID from the bytes.
    const tarFile = join(work, `${layer.name}.tar`);
    await execFileP('tar', ['-C', ctx, '--owner=0', '--group=0', '-cf', tarFile, layer.name]);
    const gzFile = `${tarFile}.gz`;
    await pipeline(
      Readable.from(await readFile(tarFile)),
      createGzip({ level: 6 }),
      createWriteStream(gzFile),
    );
    diffIds.push(
      `sha256:${createHash('sha256')
        .update(await readFile(tarFile))
        .digest('hex')}`,
    );
    const gz = await readFile(gzFile);
    const digest = `sha256:${createHash('sha256').update(gz).digest('hex')}`;
    await client.uploadBlob(repo, () => Readable.from([gz]), { digest, size: gz.length });
    layers.push({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest, size: gz.length });
    await rm(tarFile);
    await rm(gzFile);
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  await client.uploadBlob(repo, () => Readable.from([config]), { digest: configDigest, size: config.length });
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: {
      mediaType: 'application/vnd.docker.container.image.v1+json',
      digest: configDigest,
      size: config.length,
    },
    layers,
  };
  await client.putManifest({ ...repo, tag: TAG }, Buffer.from(JSON.stringify(manifest)), manifest.mediaType);
}

/** pd: manifest, then config and layers concurrently, each verified while written, into an OCI layout. */
async function pdFetch(mod, host, dir) {
  const client = new mod.RegistryClient({ dockerConfig: false });
  const repo = { registry: host, repository: REPO };
  try {
    const m = await client.getManifest({ ...repo, tag: TAG });
    const doc = JSON.parse(m.bytes.toString('utf8'));
    const blobsDir = join(dir, 'blobs', 'sha256');
    await mkdir(blobsDir, { recursive: true });
    // Verified while written to a temporary file, renamed into place only when good.
    const write = (digest, size) =>
      client.downloadBlob(repo, digest, join(blobsDir, digest.slice('sha256:'.length)), { size });
    await Promise.all([doc.config, ...doc.layers].map((d) => write(d.digest, d.size)));
    await writeFile(join(blobsDir, m.digest.slice('sha256:'.length)), m.bytes);
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(
      join(dir, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: m.mediaType,
            digest: m.digest,
            size: m.size,
            annotations: { 'org.opencontainers.image.ref.name': TAG },
          },
        ],
      }),
    );
    return doc.layers.reduce((n, l) => n + l.size, doc.config.size + m.size);
  } finally {
    await client.close();
  }
}

const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

/** skopeo copy; returns its CPU seconds (user + system) when /usr/bin/time can tell. */
async function skopeoFetch(host, dir) {
  const args = [
    'copy',
    '-q',
    '--src-tls-verify=false',
    `docker://${host}/${REPO}:${TAG}`,
    `oci:${dir}:${TAG}`,
  ];
  if (!TIME) {
    await execFileP('skopeo', args, { maxBuffer: 16 * MB });
    return undefined;
  }
  const { stderr } = await execFileP(TIME, ['-f', 'cpu %U %S', 'skopeo', ...args], { maxBuffer: 16 * MB });
  const m = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(stderr);
  return m ? Number(m[1]) + Number(m[2]) : undefined;
}

/** Layer digests in an OCI layout directory, to check both tools fetched the same bytes. */
async function layoutBlobs(dir) {
  const names = await readdir(join(dir, 'blobs', 'sha256'));
  const sizes = await Promise.all(
    names.map(async (n) => [n, (await stat(join(dir, 'blobs', 'sha256', n))).size]),
  );
  return new Map(sizes);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

export async function run({ iterations = 5 } = {}) {
  const mod = await loadClient();
  await mkdir(work, { recursive: true });
  const registry = await startRegistry();
  try {
    const seeder = new mod.RegistryClient({ dockerConfig: false });
    const seeded = await seed(registry, seeder);
    await seeder.close();
    const hasSkopeo = which('skopeo') !== undefined;
    // The Node floor fetches the same blobs with no pd code (bench/lib/node-fetch-floor.mjs), in
    // this process too; it skips the manifest request, read here once.
    const lister = new mod.RegistryClient({ dockerConfig: false });
    const listed = JSON.parse(
      (await lister.getManifest(`${registry.host}/${REPO}:${TAG}`)).bytes.toString('utf8'),
    );
    await lister.close();
    const specs = [listed.config, ...listed.layers].map(
      (d) => `${registry.url}/v2/${REPO}/blobs/${d.digest}#${d.digest}`,
    );
    const times = { pd: [], 'node socket': [], 'node http': [], node: [], skopeo: [] };
    // Client CPU seconds (user + system, threads included): steadier than wall time on a busy machine.
    const cpu = Object.fromEntries(Object.keys(times).map((k) => [k, []]));
    let bytes = 0;
    const out = join(work, 'out');
    for (let i = 0; i < iterations; i++) {
      await rm(out, { recursive: true, force: true });
      const cases = [
        [
          'pd',
          async (dir) => {
            const c0 = process.cpuUsage();
            bytes = await pdFetch(mod, registry.host, dir);
            const c = process.cpuUsage(c0);
            return (c.user + c.system) / 1e6;
          },
        ],
        // The Node ladder (lib/node-fetch-floor.mjs): raw socket → raw socket + sha256 + files →
        // node:http + sha256 → undici + files.
        ...[
          ['node socket', 'socket'],
          ['node socket files', 'files'],
          ['node http', 'http'],
          ['node', 'undici'],
        ].map(([name, via]) => [
          name,
          async (dir) => {
            const c0 = process.cpuUsage();
            await fetchBlobs(dir, specs, { via });
            const c = process.cpuUsage(c0);
            return (c.user + c.system) / 1e6;
          },
        ]),
        ...(hasSkopeo ? [['skopeo', (dir) => skopeoFetch(registry.host, dir)]] : []),
      ];
      // Rotate the order so no side always runs first.
      for (let k = 0; k < i % cases.length; k++) cases.push(cases.shift());
      for (const [name, fn] of cases) {
        const dir = join(out, name);
        await mkdir(dir, { recursive: true });
        // What the previous run left in the page cache is written back now, not during this one.
        await execFileP('sync');
        const t0 = performance.now();
        const cpuSeconds = await fn(dir);
        times[name].push((performance.now() - t0) / 1000);
        if (cpuSeconds !== undefined) cpu[name].push(cpuSeconds);
      }
      if (i === 0 && hasSkopeo) {
        // Same layer blobs on both sides (skopeo rewrites manifest and config to OCI types).
        const a = await layoutBlobs(join(out, 'pd'));
        const b = await layoutBlobs(join(out, 'skopeo'));
        const shared = [...a.keys()].filter((k) => b.get(k) === a.get(k));
        if (shared.length < LAYERS.length) throw new Error('pd and skopeo fetched different layers');
      }
    }
    await rm(out, { recursive: true, force: true });
    const results = {};
    for (const [name, xs] of Object.entries(times)) {
      if (xs.length === 0) continue;
      const seconds = median(xs);
      results[name] = {
        seconds,
        mbPerSecond: bytes / MB / seconds,
        cpuSeconds: cpu[name].length ? median(cpu[name]) : undefined,
        runs: xs,
      };
    }
    const ratio = results.skopeo ? results.skopeo.seconds / results.pd.seconds : undefined;
    const floorRatio = results.skopeo ? results.skopeo.seconds / results.node.seconds : undefined;
    const cpuRatio =
      results.skopeo?.cpuSeconds && results.pd.cpuSeconds
        ? results.skopeo.cpuSeconds / results.pd.cpuSeconds
        : undefined;
    return {
      iterations,
      loadAverage: (await readFile('/proc/loadavg', 'utf8').catch(() => '')).split(' ').slice(0, 3).join(' '),
      bytes,
      layers: LAYERS.length,
      seeded,
      results,
      targets: {
        speedupVsSkopeo: ratio,
        floorSpeedupVsSkopeo: floorRatio,
        cpuVsSkopeo: cpuRatio,
        met: ratio === undefined ? undefined : ratio >= 2,
      },
    };
  } finally {
    registry.stop();
  }
}

export function report(r, log = console.log) {
  log(
    `image: ${r.layers} layers + config, ${(r.bytes / MB).toFixed(1)} MiB of blobs (${r.seeded}); median of ${r.iterations}; load ${r.loadAverage}`,
  );
  log('case          seconds     MiB/s  client CPU s   runs');
  for (const [name, x] of Object.entries(r.results)) {
    const cpu = x.cpuSeconds === undefined ? '-' : x.cpuSeconds.toFixed(2);
    log(
      `${name.padEnd(12)} ${x.seconds.toFixed(3).padStart(8)} ${x.mbPerSecond.toFixed(1).padStart(9)} ${cpu.padStart(13)}   ${x.runs.map((s) => s.toFixed(2)).join(' ')}`,
    );
  }
  if (r.targets.speedupVsSkopeo === undefined) {
    log('skopeo not installed: no comparison');
    return;
  }
  log(
    `pd vs skopeo copy: ${r.targets.speedupVsSkopeo.toFixed(2)}x faster (target >= 2x: ${r.targets.met ? 'met' : 'MISSED'})`,
  );
  log(
    `Node floor (a minimal undici + sha256 + batched-write fetch of the same blobs, in-process, no pd code): ${r.targets.floorSpeedupVsSkopeo.toFixed(2)}x faster than skopeo; pd takes ${(r.results.pd.seconds / r.results.node.seconds).toFixed(2)}x its time`,
  );
  if (r.targets.cpuVsSkopeo !== undefined)
    log(`client CPU: skopeo uses ${r.targets.cpuVsSkopeo.toFixed(2)}x what pd uses`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const iterations = Number(process.argv[2] ?? process.env.PD_BENCH_ITERATIONS ?? 5);
  report(await run({ iterations }));
}
