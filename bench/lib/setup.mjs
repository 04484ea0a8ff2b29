// What the cases need: peer tools (installed when missing), a Docker engine, the registry and
// the fixtures, shared by every case of one harness run.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
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
export async function createContext({ sizeMB = 300, log = console.log } = {}) {
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
    async close() {
      for (const stop of stops.reverse()) await stop().catch((e) => log(`[setup] stop: ${e.message}`));
    },
  };
  return ctx;
}
