#!/usr/bin/env node
// Where the time of a `pd copy` within one registry goes (issue 15). Standalone, not part of
// `pnpm bench`'s table; prints markdown to stdout.
//   1. requests of one copy, pd's and skopeo's, as the counting proxy (test-fixtures
//      startFaultProxy) saw them;
//   2. pd's timeline inside the process (bench/lib/stamps.mjs: Node's start, first socket, each
//      request, exit), medians over the runs;
//   3. the floor ladder, all sides alternating in one loop: `node -e 0`, `pd version` (Node +
//      loading the CLI), `pd copy`, `skopeo --version`, `skopeo copy`.
// Usage: pnpm build && PD_TEST_DOCKER_HOST=… node bench/cases/copy-ladder.mjs [--iterations N]
//   [--build 'LABEL=MAIN' ...]  also time other builds of the CLI (e.g. the last commit's, built in
//                               a scratch tree), each under its label
//   [--node22 NODE]  also time pd and `node -e 0` under this node binary (e.g. Node 22)
//   [--two-registries]  also time every build and skopeo copying to a second registry, started
//                       empty for each run (outside the timing), alternating, with the floor of
//                       copy-socket-floor.mjs (raw sockets, no HTTP library); CPU time per side too
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { alternate, GNU_TIME, median, spawnCollect } from '../lib/measure.mjs';
import { PD_MAIN, pdEnv } from '../lib/pd.mjs';
import { createContext, ensureTools } from '../lib/setup.mjs';

const STAMPS = fileURLToPath(new URL('../lib/stamps.mjs', import.meta.url));
const SOCKET_FLOOR = fileURLToPath(new URL('./copy-socket-floor.mjs', import.meta.url));
const { values: flags } = parseArgs({
  options: {
    iterations: { type: 'string', default: '7' },
    build: { type: 'string', multiple: true, default: [] },
    node22: { type: 'string' },
    'two-registries': { type: 'boolean', default: false },
  },
});
const iterations = Number(flags.iterations);
const skopeoTls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
const fmt = (ms) => `${Math.round(ms)} ms`;
/** A request path with the repository left out and digests shortened. */
const short = (path) =>
  path
    .replace(/\/v2\/[^?]*?\/(blobs|manifests)/, '…/$1')
    .replace(/sha256(:|%3A)([0-9a-f]{12})[0-9a-f]{52}/g, 'sha256$1$2…')
    .replace(/\?_state=.*$/, '?_state=…');

const loadStart = loadavg();
const ctx = await createContext({ log: (m) => process.stderr.write(`${m}\n`) });
const tmp = await mkdtemp(join(tmpdir(), 'pd-copy-ladder-'));
let n = 0;
const newRepo = (who) => `ladder/${who}-${process.pid}-${n++}`;
try {
  await ensureTools(['skopeo'], ctx.log);
  const large = await ctx.largeImage();
  const registry = await ctx.registry();
  const proxy = await ctx.proxy();
  const srcAt = (host) => `${host}/${large.repository}:${large.tag}`;
  // The pd builds measured: [label, node binary, entry point].
  const builds = [
    ...flags.build.map((b) => [b.slice(0, b.indexOf('=')), process.execPath, b.slice(b.indexOf('=') + 1)]),
    ['pd', process.execPath, PD_MAIN],
  ];
  if (flags.node22) builds.push(['pd, Node 22', flags.node22, PD_MAIN]);
  const pdCopy = ([, node, main], host, extra = []) => [
    node,
    ...extra,
    main,
    'copy',
    srcAt(host),
    `${host}/${newRepo('pd')}:latest`,
  ];
  const skopeoCopy = (host) => [
    'skopeo',
    'copy',
    '-q',
    ...skopeoTls,
    `docker://${srcAt(host)}`,
    `docker://${host}/${newRepo('skopeo')}:latest`,
  ];
  const cacheDir = () => join(tmp, `cache-${n}`);

  // 1. Requests of one copy (after one copy each, so skopeo's blob-info cache knows the source).
  const requests = {};
  for (const [who, argv] of [
    ...builds.map((b) => [b[0], () => pdCopy(b, proxy.host)]),
    ['skopeo', () => skopeoCopy(proxy.host)],
  ]) {
    for (let i = 0; i < 2; i++) {
      proxy.resetStats();
      const [cmd, ...args] = argv();
      const r = await spawnCollect(cmd, args, { env: pdEnv(cacheDir()) });
      if (r.code !== 0) throw new Error(`${who} copy failed: ${r.stderr}`);
    }
    requests[who] = proxy.log.map((q) => `${q.method} ${short(q.url)} ${q.status}`);
  }

  // 2. pd's timeline inside the process, the builds taking turns (a burst of load elsewhere on
  // the machine then falls on all of them).
  const timelines = Object.fromEntries(builds.map((b) => [b[0], []]));
  for (let i = 0; i < iterations; i++) {
    for (const b of i % 2 ? [...builds].reverse() : builds) {
      const file = join(tmp, `stamps-${n}.json`);
      const [cmd, ...args] = pdCopy(b, registry.host, ['--import', STAMPS]);
      const t0 = performance.now();
      const r = await spawnCollect(cmd, args, { env: pdEnv(cacheDir(), { PD_STAMPS: file }) });
      const wall = performance.now() - t0;
      if (r.code !== 0) throw new Error(`${b[0]} copy failed: ${r.stderr}`);
      const s = JSON.parse(await readFile(file, 'utf8'));
      const last = Math.max(...s.requests.map((q) => q.ended ?? q.headers ?? q.created));
      timelines[b[0]].push({ ...s, lastRequest: last, wall });
    }
  }

  // 3. The ladder, every rung alternating with the others.
  const side = (argv, env) => ({ prepare: async () => ({ argv: argv(), env: env?.() }) });
  const sides = { 'node -e 0': side(() => [process.execPath, '-e', '0']) };
  if (flags.node22) sides['node -e 0, Node 22'] = side(() => [flags.node22, '-e', '0']);
  for (const b of builds) sides[`${b[0]} version`] = side(() => [b[1], b[2], 'version']);
  for (const b of builds) {
    sides[`${b[0]} copy`] = side(
      () => pdCopy(b, registry.host),
      () => pdEnv(cacheDir()),
    );
  }
  // skopeo's own floor: the Go binary starting and exiting.
  sides['skopeo --version'] = side(() => ['skopeo', '--version']);
  sides['skopeo copy'] = side(() => skopeoCopy(registry.host));
  const r = await alternate(sides, { iterations, log: ctx.log });

  // 4. Across two registries: every blob downloaded and uploaded, into a registry started empty
  // for each run (stopped after it), so no side's memory of earlier runs (skopeo's blob-info
  // cache) helps it.
  let across;
  if (flags['two-registries']) {
    // The copy's own CPU time (user + system) too: on a shared 2-core machine it is steadier
    // than the wall time, which the registries' work and other load stretch.
    const crossSide = (argv, env) => ({
      prepare: async () => {
        const dest = await ctx.fx.startRegistry();
        const cpuFile = join(tmp, `cpu-${n}`);
        return {
          argv: [GNU_TIME, '-f', '%U %S', '-o', cpuFile, '--', ...argv(dest.host)],
          env: env?.(),
          after: async () => {
            await dest.stop();
            const [user, sys] = (await readFile(cpuFile, 'utf8')).trim().split('\n').at(-1).split(' ');
            return { cpuMs: (Number(user) + Number(sys)) * 1000 };
          },
        };
      },
    });
    const cross = {};
    for (const b of builds) {
      cross[`${b[0]} copy`] = crossSide(
        (host) => [b[1], b[2], 'copy', srcAt(registry.host), `${host}/${newRepo('pd')}:latest`],
        () => pdEnv(cacheDir()),
      );
    }
    // The floor: a Node program with raw sockets and no HTTP library (copy-socket-floor.mjs).
    cross['node raw-socket pipe (floor)'] = crossSide((host) => [
      process.execPath,
      SOCKET_FLOOR,
      srcAt(registry.host),
      `${host}/${newRepo('floor')}:latest`,
    ]);
    cross['skopeo copy'] = crossSide((host) => [
      'skopeo',
      'copy',
      '-q',
      ...skopeoTls,
      `docker://${srcAt(registry.host)}`,
      `docker://${host}/${newRepo('skopeo')}:latest`,
    ]);
    across = await alternate(cross, { iterations, log: ctx.log });
  }

  const out = [];
  const load = (l) => l.map((x) => x.toFixed(2)).join(' ');
  out.push(
    `Node ${process.version}; ${iterations} runs per rung, alternating, medians of wall time; load average (1, 5, 15 min) ${load(loadStart)} at the start, ${load(loadavg())} at the end`,
    '',
  );
  // The minimum too: on a shared machine the noise only ever adds time.
  out.push('| rung | median | × skopeo copy | min | runs |', '|---|---:|---:|---:|---|');
  for (const [name, s] of Object.entries(r)) {
    const ms = s.runs.map((x) => Math.round(x.ms));
    const ratio = (s.medianMs / r['skopeo copy'].medianMs).toFixed(2);
    out.push(`| ${name} | ${fmt(s.medianMs)} | ${ratio} | ${Math.min(...ms)} ms | ${ms.join(', ')} |`);
  }
  if (across) {
    out.push(
      '',
      'Across two registries (a fresh destination per run), alternating, medians of wall time',
      '',
    );
    out.push(
      '| side | median | × skopeo copy | min | runs | CPU (user + sys) median | CPU runs |',
      '|---|---:|---:|---:|---|---:|---|',
    );
    for (const [name, s] of Object.entries(across)) {
      const ms = s.runs.map((x) => Math.round(x.ms));
      const cpu = s.runs.map((x) => Math.round(x.cpuMs));
      const ratio = (s.medianMs / across['skopeo copy'].medianMs).toFixed(2);
      out.push(
        `| ${name} | ${fmt(s.medianMs)} | ${ratio} | ${Math.min(...ms)} ms | ${ms.join(', ')} | ${fmt(median(cpu))} | ${cpu.join(', ')} |`,
      );
    }
  }
  out.push('', 'pd copy timeline (ms since process start, medians; the preload adds ~1 ms)', '');
  out.push(
    `| point | ${builds.map((b) => b[0]).join(' | ')} |`,
    `|---|${builds.map(() => '---:').join('|')}|`,
  );
  const row = (label, f) =>
    out.push(`| ${label} | ${builds.map((b) => Math.round(median(timelines[b[0]].map(f)))).join(' | ')} |`);
  row("preload runs (Node's own start-up)", (s) => s.preload);
  row('first socket created', (s) => s.firstSocket);
  row('first connection up', (s) => s.firstConnect);
  row('last response ended', (s) => s.lastRequest);
  row('exit event', (s) => s.exit);
  row("wall (parent's clock)", (s) => s.wall);
  for (const b of builds) {
    const runs = timelines[b[0]];
    const one = runs[runs.length >> 1];
    out.push('', `${b[0]}: requests of one run (ms since process start)`, '');
    for (const q of one.requests) {
      out.push(
        `- ${q.method} ${short(q.path)} → ${q.status}: ${Math.round(q.created)} → ${Math.round(q.ended ?? q.headers)}`,
      );
    }
  }
  for (const [who, list] of Object.entries(requests)) {
    out.push('', `${who}: ${list.length} requests of one copy at the counting proxy`, '');
    for (const l of list) out.push(`- ${l}`);
  }
  console.log(out.join('\n'));
} finally {
  await rm(tmp, { recursive: true, force: true });
  await ctx.close();
}
