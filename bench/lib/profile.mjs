// Re-run one pd command under `node --cpu-prof` and summarise where its time went.
import { readdir, readFile, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { measure } from './measure.mjs';
import { ROOT } from './pd.mjs';

/** Insert the profiler flags right after node in a `pd` argv. */
function profiled(argv, dir) {
  if (argv[0] !== process.execPath) throw new Error('only node commands can be profiled');
  return [argv[0], '--cpu-prof', '--cpu-prof-dir', dir, ...argv.slice(1)];
}

/** Where a frame lives: a workspace package, a dependency, node's own code, or V8 itself. */
function owner(url) {
  if (!url) return '(v8/native)';
  if (url.startsWith('node:')) return url.split('/')[0];
  const path = url.replace(/^file:\/\//, '');
  const dep = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (dep) return dep[1];
  const rel = relative(ROOT, path);
  const m = /^(packages|apps)\/([^/]+)/.exec(rel);
  return m ? `@pd/${m[2]}` : rel;
}

/**
 * Self time per function and per owner, and inclusive time per function, from a .cpuprofile.
 * Inclusive time counts a sample once per distinct function on its stack (recursion-safe).
 */
export function summarizeProfile(profile, top = 15) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (n) => {
    const f = n.callFrame;
    const where = f.url ? `${relative(ROOT, f.url.replace(/^file:\/\//, ''))}:${f.lineNumber + 1}` : '';
    return `${f.functionName || '(anonymous)'} ${where}`.trim();
  };
  const self = new Map();
  const total = new Map();
  const owners = new Map();
  let all = 0;
  profile.samples.forEach((id, i) => {
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    all += dt;
    const node = byId.get(id);
    const key = keyOf(node);
    self.set(key, (self.get(key) ?? 0) + dt);
    const o = node.callFrame.url ? owner(node.callFrame.url) : node.callFrame.functionName;
    owners.set(o, (owners.get(o) ?? 0) + dt);
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const k = keyOf(byId.get(cur));
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + dt);
    }
  });
  const rank = (m) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms: Math.round(ms), pct: Number(((100 * ms) / all).toFixed(1)) }));
  return { sampledMs: Math.round(all), self: rank(self), owners: rank(owners), inclusive: rank(total) };
}

/** Run a prepared pd job once under the profiler; returns the summary and the run's time. */
export async function profileJob(job, dir) {
  await rm(dir, { recursive: true, force: true });
  const r = await measure(profiled(job.argv, dir), { env: job.env, cwd: job.cwd });
  await job.after?.(r);
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) throw new Error('node wrote no .cpuprofile');
  // One process (the CLI); with workers there would be one profile per thread: take the largest.
  const profiles = await Promise.all(
    files.map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8'))),
  );
  profiles.sort((a, b) => b.samples.length - a.samples.length);
  return {
    wallMs: Math.round(r.ms),
    files: files.map((f) => join(dir, f)),
    ...summarizeProfile(profiles[0]),
  };
}
