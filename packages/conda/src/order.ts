import { specName } from './channels.js';

/**
 * Packages in dependency order: every package after those it depends on, ties broken by name so
 * that the order (and so the layer order) is the same on every build. Dependency cycles, which
 * real channels have (e.g. through pip and python), are broken at the smallest name.
 */
export function dependencyOrder<T extends { name: string; depends: string[] }>(packages: T[]): T[] {
  const byName = new Map(packages.map((p) => [p.name, p]));
  const deps = new Map<string, Set<string>>();
  for (const p of packages) {
    const own = new Set<string>();
    for (const d of p.depends) {
      const n = specName(d);
      if (n !== p.name && byName.has(n)) own.add(n);
    }
    deps.set(p.name, own);
  }
  const done = new Set<string>();
  const out: T[] = [];
  const remaining = [...byName.keys()].sort();
  while (out.length < byName.size) {
    const ready = remaining.filter((n) => !done.has(n) && [...deps.get(n)!].every((d) => done.has(d)));
    const next = ready.length ? ready : remaining.filter((n) => !done.has(n)).slice(0, 1);
    for (const n of next) {
      done.add(n);
      out.push(byName.get(n)!);
    }
  }
  return out;
}
