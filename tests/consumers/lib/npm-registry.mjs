// pd's packages as users get them: published with the release tooling to a real npm registry
// (verdaccio, on a loopback port) and installed from it with plain npm. Used by
// test/registry.test.ts and by bench/cases/packages.mjs (plain JavaScript so the bench runs it
// without a build).
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, waitForHttp } from '@pd/test-fixtures';

export const run = promisify(execFile);
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const require = createRequire(import.meta.url);

/**
 * Third-party packages verdaccio fetched from its uplink (the npm registry npm is configured
 * with) and npm's own cache, kept between runs: the first run downloads, later ones do not.
 * @pd/* packages are stored per run (see startVerdaccio) and never proxied.
 */
export const CACHE_DIR = join(tmpdir(), 'pd-consumers-cache');

/**
 * @typedef {object} NpmRegistry
 * @property {string} url          `http://127.0.0.1:PORT/`
 * @property {string} npmrc        a user config with the registry and a publish token
 * @property {string} npmCache     npm's cache directory for installs from it
 * @property {(args: string[], opts?: { cwd?: string, env?: NodeJS.ProcessEnv, timeout?: number }) => Promise<{ stdout: string, stderr: string }>} npm
 * @property {NodeJS.ProcessEnv} env  the environment npm and npx run with (this registry, no other npm config)
 * @property {() => Promise<void>} stop
 * @property {() => string} said  what verdaccio has logged (each request, and its uplink's failures)
 */

/** The npm registry npm itself uses here (verdaccio's uplink for third-party packages). */
async function upstreamRegistry() {
  const { stdout } = await run('npm', ['config', 'get', 'registry'], { cwd: tmpdir() });
  return stdout.trim();
}

/**
 * Start verdaccio on a free loopback port. Anyone may read and publish; `@pd/*` is served only
 * from what is published to it in this run (no uplink: npm can never fetch a public @pd package),
 * everything else is proxied to the npm registry and cached in {@link CACHE_DIR}.
 * @returns {Promise<NpmRegistry>}
 */
export async function startVerdaccio() {
  const work = await mkdtemp(join(tmpdir(), 'pd-verdaccio-'));
  const storage = join(CACHE_DIR, 'verdaccio');
  const runStorage = `pd-run-${process.pid}-${Date.now()}`;
  mkdirSync(storage, { recursive: true });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const config = join(work, 'config.yaml');
  writeFileSync(
    config,
    [
      `storage: ${JSON.stringify(storage)}`,
      'auth:',
      `  htpasswd: { file: ${JSON.stringify(join(work, 'htpasswd'))}, max_users: 10 }`,
      'uplinks:',
      // verdaccio takes an uplink offline for fail_timeout after max_fails failed fetches (by
      // default 5 minutes after 2), and answers 404 meanwhile: a hiccup of the npm registry then
      // failed every retry of installFresh. CI, 2026-12-07: "404 … fzstd - no such package
      // available" three times in 9 s.
      `  npmjs: { url: ${JSON.stringify(await upstreamRegistry())}, timeout: 60s, maxage: 30m, max_fails: 20, fail_timeout: 5s }`,
      'packages:',
      `  '@pd/*': { access: $all, publish: $all, unpublish: $all, storage: ${JSON.stringify(runStorage)} }`,
      `  '**': { access: $all, publish: $all, proxy: npmjs }`,
      'max_body_size: 200mb',
      // http: an uplink's failed fetches are logged at this level (installFresh reports them).
      'log: { type: stdout, format: pretty, level: http }',
      '',
    ].join('\n'),
  );
  const pkgDir = dirname(require.resolve('verdaccio/package.json'));
  const bin = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')).bin;
  const main = join(pkgDir, typeof bin === 'string' ? bin : bin.verdaccio);
  const child = spawn(process.execPath, [main, '--config', config, '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(join(storage, runStorage), { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  };
  try {
    await waitForHttp(`${url}-/ping`, 60_000);
    // npm publishes only with a token: register a user (verdaccio's htpasswd plugin issues one).
    const res = await fetch(`${url}-/user/org.couchdb.user:pd`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'pd', password: 'pd-consumers', email: 'pd@localhost' }),
    });
    if (!res.ok) throw new Error(`verdaccio refused the user: ${res.status} ${await res.text()}`);
    const { token } = await res.json();
    const npmrc = join(work, 'npmrc');
    writeFileSync(npmrc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=${token}\n`);
    const npmCache = join(CACHE_DIR, 'npm');
    const env = {
      ...process.env,
      npm_config_userconfig: npmrc,
      npm_config_registry: url,
      npm_config_cache: npmCache,
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
      npm_config_prefer_online: 'true',
    };
    /** npm with this registry and nothing of the machine's or the repository's npm config. */
    const npm = (args, opts = {}) =>
      run('npm', args, {
        cwd: opts.cwd ?? work,
        timeout: opts.timeout ?? 180_000,
        maxBuffer: 32 << 20,
        env: { ...env, ...opts.env },
      });
    return { url, npmrc, npmCache, npm, env, stop, said: () => output };
  } catch (e) {
    await stop();
    throw new Error(`${e.message}\nverdaccio said:\n${output.slice(-4000)}`);
  }
}

/**
 * Publish every public workspace package with the release tooling (`pnpm publish -r`, which
 * packs through .pnpmfile.cjs's beforePacking hook, as a release does).
 * @param {NpmRegistry} registry
 */
export async function publishWorkspace(registry) {
  return run('pnpm', ['publish', '-r', '--registry', registry.url, '--no-git-checks', '--access', 'public'], {
    cwd: ROOT,
    timeout: 300_000,
    maxBuffer: 32 << 20,
    env: { ...process.env, npm_config_userconfig: registry.npmrc },
  });
}

/**
 * A fresh directory holding a `package.json` (CommonJS by default, as `npm init` makes it) with
 * `specs` installed from the registry by plain npm.
 * @param {NpmRegistry} registry
 * @param {string[]} specs
 * @param {{ type?: 'commonjs' | 'module', parent?: string }} [opts]
 */
export async function installFresh(registry, specs, opts = {}) {
  const dir = await mkdtemp(join(opts.parent ?? tmpdir(), 'pd-consumer-'));
  writeFileSync(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: opts.type ?? 'commonjs' }, null, 2)}\n`,
  );
  // Third-party packages come through verdaccio's uplink to the npm registry, which hiccups (a
  // failed uplink fetch answers 404, seen for undici in CI): tried again after 5, 10, 20 and 40 s;
  // a real failure fails all five, and says what verdaccio's uplink met (a machine whose egress
  // re-signs TLS: "self-signed certificate in certificate chain" when verdaccio did not get
  // NODE_EXTRA_CA_CERTS, which turbo.json now passes to tests).
  for (let attempt = 1; ; attempt++) {
    try {
      await registry.npm(['install', '--no-package-lock', ...specs], { cwd: dir });
      return dir;
    } catch (e) {
      if (attempt === 5) {
        // Its uplink's answers and errors (`--- `), not the 404s it gave npm for them.
        const uplink = registry
          .said()
          .split('\n')
          .filter((l) => l.includes(' --- ') && !l.includes('making request'));
        e.message += `\nverdaccio's uplink, last events:\n${uplink.slice(-20).join('\n')}`;
        throw e;
      }
      await new Promise((r) => setTimeout(r, 5000 * 2 ** (attempt - 1)));
    }
  }
}

/** Bytes under `dir` (files as stored, links not followed). */
export async function diskUsage(dir) {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await stat(join(e.parentPath ?? e.path, e.name))).size;
  }
  return total;
}

/** Packages installed in `dir`'s node_modules (every package.json of a package, nested ones too). */
export function installedPackages(dir) {
  const found = [];
  const walk = (nm) => {
    let entries;
    try {
      entries = readdirSync(nm, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory() || e.name.startsWith('.')) continue;
      const dirs = e.name.startsWith('@')
        ? readdirSync(join(nm, e.name)).map((n) => join(nm, e.name, n))
        : [join(nm, e.name)];
      for (const d of dirs) {
        found.push(d);
        walk(join(d, 'node_modules'));
      }
    }
  };
  walk(join(dir, 'node_modules'));
  return found;
}
