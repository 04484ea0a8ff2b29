// What the cases need: peer tools (installed when missing), a Docker engine, the registry and
// the fixtures, shared by every case of one harness run.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { GNU_TIME } from './measure.mjs';
import { ROOT } from './pd.mjs';

const execFileP = promisify(execFile);
export const WORK = join(ROOT, 'bench', '.work');
export const CONTAINERIFY_VERSION = '4.1.0';

/** Executable → Debian package that provides it. */
const APT = {
  skopeo: 'skopeo',
  docker: 'docker.io',
  dockerd: 'docker.io',
  pigz: 'pigz',
  [GNU_TIME]: 'time',
  'docker-registry': 'docker-registry',
  htpasswd: 'apache2-utils',
  curl: 'curl',
  openssl: 'openssl',
};

export function which(tool) {
  if (tool.startsWith('/')) return existsSync(tool) ? tool : undefined;
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/local/sbin']) {
    if (dir && existsSync(join(dir, tool))) return join(dir, tool);
  }
  return undefined;
}

/** apt-get install the packages of whichever tools are missing (root only; once per run). */
export async function ensureTools(tools, log) {
  const missing = tools.filter((t) => !which(t));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((t) => APT[t] ?? t))];
  if (process.getuid?.() !== 0) {
    throw new Error(`missing ${missing.join(', ')}: install ${packages.join(' ')} (apt-get needs root)`);
  }
  log(`[setup] installing ${packages.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', NEEDRESTART_SUSPEND: '1' };
  const opts = { env, timeout: 20 * 60_000, maxBuffer: 64 << 20 };
  await execFileP('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update', '-qq'], opts);
  await execFileP('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '-qq', ...packages], opts);
  const still = tools.filter((t) => !which(t));
  if (still.length) throw new Error(`still missing after apt-get install: ${still.join(', ')}`);
}

/** containerify from npm, installed into bench/.work (never into the workspace). */
export async function ensureContainerify(log) {
  const dir = join(WORK, 'containerify');
  const cli = join(dir, 'node_modules', 'containerify', 'lib', 'cli.js');
  if (!existsSync(cli)) {
    log(`[setup] npm install containerify@${CONTAINERIFY_VERSION} into ${dir}`);
    await mkdir(dir, { recursive: true });
    await execFileP(
      'npm',
      ['install', '--prefix', dir, '--no-audit', '--no-fund', `containerify@${CONTAINERIFY_VERSION}`],
      { timeout: 300_000 },
    );
  }
  return cli;
}

/**
 * The Docker engine: PD_TEST_DOCKER_HOST when set, else a private one started with
 * scripts/start-dockerd.sh (and stopped by the returned function, only if this run started it).
 */
export async function ensureDocker(log) {
  if (process.env.PD_TEST_DOCKER_HOST) return { host: process.env.PD_TEST_DOCKER_HOST, stop: async () => {} };
  await ensureTools(['docker', 'dockerd'], log);
  log('[setup] PD_TEST_DOCKER_HOST is unset: starting a private dockerd (scripts/start-dockerd.sh)');
  const script = join(ROOT, 'scripts', 'start-dockerd.sh');
  const { stdout, stderr } = await execFileP('bash', [script], { timeout: 180_000 });
  const m = /^export PD_TEST_DOCKER_HOST=(\S+)$/m.exec(stdout);
  if (!m) throw new Error(`start-dockerd.sh printed no export line:\n${stderr}`);
  const host = m[1].replace(/^'|'$/g, '');
  process.env.PD_TEST_DOCKER_HOST = host;
  const startedHere = !stderr.includes('already running');
  return {
    host,
    stop: async () => {
      if (startedHere)
        await execFileP('bash', [join(ROOT, 'scripts', 'stop-dockerd.sh')], { timeout: 120_000 });
    },
  };
}

export const SKOPEO_TLS = ['--src-tls-verify=false', '--dest-tls-verify=false'];

/**
 * `skopeo copy docker://SRC TRANSPORT:bench/.work/NAME` made once and kept while `digest` (the
 * source's) is the same: an OCI layout (`oci`, the path is a directory) or a docker archive
 * (`docker-archive`, layers uncompressed). Returns the path.
 */
export async function skopeoOnce(src, transport, name, digest, log) {
  const path = join(WORK, name);
  const stamp = `${path}.digest`;
  if (existsSync(stamp) && (await readFile(stamp, 'utf8')) === digest) return path;
  await rm(path, { recursive: true, force: true });
  log(`[setup] skopeo copy ${src} to ${transport}:${path} (once)`);
  const dest = transport === 'oci' ? `oci:${path}:latest` : `${transport}:${path}:bench/image:latest`;
  await execFileP('skopeo', ['copy', '-q', ...SKOPEO_TLS, `docker://${src}`, dest], {
    timeout: 3_600_000,
    maxBuffer: 16 << 20,
  });
  await writeFile(stamp, digest);
  return path;
}

/** A built workspace package (or test-fixtures), imported from its dist. */
export async function loadBuilt(dir) {
  const dist = join(ROOT, dir, 'dist', 'index.js');
  if (!existsSync(dist)) throw new Error(`${dir} is not built: run pnpm build`);
  return import(pathToFileURL(dist).href);
}

/**
 * Services and fixtures for a run. Fixtures are made on first use, so `--only layer` never
 * builds images. `close()` stops what was started.
 */
export async function createContext({
  sizeMB = 300,
  large = { sizeMB: 2048, layers: 2 },
  log = console.log,
} = {}) {
  await mkdir(WORK, { recursive: true });
  await ensureTools([GNU_TIME, 'docker-registry'], log);
  const fx = await loadBuilt('test-fixtures');
  const stops = [];
  const once = (fn) => {
    let p;
    return () => {
      p ??= fn();
      return p;
    };
  };
  const ctx = {
    fx,
    log,
    sizeMB,
    work: WORK,
    registry: once(async () => {
      const r = await fx.startRegistry();
      stops.push(() => r.stop());
      return r;
    }),
    /** A counting proxy in front of the registry (to see bytes moved). */
    proxy: once(async () => {
      const p = await fx.startFaultProxy((await ctx.registry()).url);
      stops.push(() => p.stop());
      return p;
    }),
    docker: once(async () => {
      const d = await ensureDocker(log);
      stops.push(() => d.stop());
      return d.host;
    }),
    /** The multi-layer image of `sizeMB` MiB, built by docker and pushed to the registry. */
    largeImage: once(async () => {
      await ctx.docker();
      const registry = await ctx.registry();
      log(`[setup] large image: ${sizeMB} MiB in 4 data layers + busybox (docker build, docker push)`);
      return fx.largeImage(registry, { sizeMB, layers: 4 });
    }),
    /** The image of the opt-in large case (`--large`): `large.sizeMB` MiB in `large.layers` layers. */
    bigImage: once(async () => {
      await ctx.docker();
      const registry = await ctx.registry();
      log(
        `[setup] --large image: ${large.sizeMB} MiB in ${large.layers} data layers (docker build, docker push)`,
      );
      return fx.largeImage(registry, large);
    }),
    /** The fixture image (`big`: the --large one) and where it is: `{ image, registry, src }`. */
    async source(big = false) {
      const image = big ? await ctx.bigImage() : await ctx.largeImage();
      const registry = await ctx.registry();
      return { image, registry, src: `${registry.host}/${image.repository}:${image.tag}` };
    },
    /**
     * The fixture image on a second registry that speaks HTTPS (its own TLS, a certificate openssl
     * made for 127.0.0.1, trusted by no one), copied there by skopeo: `{ image, registry, src, tls }`
     * (`tls`: that certificate and key, for more registries like it).
     */
    tlsSource: once(async () => {
      const { image, src: plain } = await ctx.source();
      await ensureTools(['openssl', 'skopeo'], log);
      // Not the cases' scratch (`scratch('tls')` empties that): the rows start registries with it.
      const dir = join(WORK, 'tls-certificate');
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      const tls = fx.selfSignedCertificate(dir, '127.0.0.1', ['IP:127.0.0.1']);
      const registry = await fx.startRegistry({ tls });
      stops.push(() => registry.stop());
      const src = `${registry.host}/${image.repository}:${image.tag}`;
      log(`[setup] the fixture image onto an HTTPS registry: skopeo copy ${plain} ${src}`);
      await execFileP('skopeo', ['copy', '-q', ...SKOPEO_TLS, `docker://${plain}`, `docker://${src}`], {
        timeout: 600_000,
      });
      return { image, registry, src, tls };
    }),
    /** `bench/.work/NAME`, emptied. */
    async scratch(name) {
      const dir = join(WORK, name);
      await rm(dir, { recursive: true, force: true });
      return dir;
    },
    async close() {
      for (const stop of stops.reverse()) await stop().catch((e) => log(`[setup] stop: ${e.message}`));
    },
  };
  return ctx;
}

/**
 * Run a case module's `run` when the module is the program (`node bench/cases/X.mjs [iterations]`),
 * with a context of its own, and print its rows as JSON.
 */
export async function runStandalone(moduleUrl, run, iterations = 3) {
  if (!process.argv[1] || fileURLToPath(moduleUrl) !== process.argv[1]) return;
  const ctx = await createContext({ log: (m) => process.stderr.write(`${m}\n`) });
  try {
    const rows = await run({ ctx, iterations: Number(process.argv[2] ?? iterations) });
    console.log(JSON.stringify(rows, null, 2));
  } finally {
    await ctx.close();
  }
}
