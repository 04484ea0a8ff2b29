// The results table (markdown), the dated results file and README's Performance section.
import { readFile, writeFile } from 'node:fs/promises';
import { jobFloorOf } from './result.mjs';

const secs = (ms) => (ms === null || ms === undefined ? '—' : `${(ms / 1000).toFixed(2)} s`);
const mb = (x) => (x === null || x === undefined ? '—' : `${x.toFixed(0)} MB`);
const cell = (s) => String(s).replaceAll('|', '\\|');

function verdict(r) {
  if (r.notRun) return `not run: ${r.notRun}`;
  if (r.met) return 'met';
  if (!r.underFloor) return 'MISSED';
  const floor = jobFloorOf(r);
  return `MISSED, under the floor (${floor.name} ${floor.ofPeer.toFixed(2)}×)`;
}

/** A row's floors: each median and its share of the peer's (`curl --parallel 0.25 s = 0.40×`). */
export function floorsText(r) {
  if (!r.floors?.length) return '—';
  return r.floors.map((f) => `${f.name} ${secs(f.medianMs)} = ${f.ofPeer.toFixed(2)}×`).join('; ');
}

/**
 * One markdown table: pd and peer medians and peak RSS, the ratio, the target, the verdict and
 * the floors measured in the same rounds (each also as a ratio to the peer, comparable to pd's).
 */
export function table(rows) {
  const head = [
    '| case | pd median | pd peak RSS | peer | peer median | peer peak RSS | pd / peer | target | result | floors (× peer) |',
    '|---|---:|---:|---|---:|---:|---:|---|---|---|',
  ];
  const lines = rows.map((r) =>
    r.notRun
      ? `| ${cell(r.case)} | — | — | — | — | — | — | ${cell(r.target)} | ${cell(verdict(r))} | — |`
      : `| ${cell(r.case)} | ${secs(r.pd.medianMs)} | ${mb(r.pd.peakRssMB)} | ${cell(r.peer.name)} | ${secs(r.peer.medianMs)} | ${mb(r.peer.peakRssMB)} | ${r.ratio.toFixed(2)}× | ${cell(r.target)} | ${verdict(r)} | ${cell(floorsText(r))} |`,
  );
  return [...head, ...lines].join('\n');
}

function notes(rows) {
  return rows
    .filter((r) => !r.notRun)
    .map((r) => {
      const runs = `runs (ms): pd ${r.pd.runsMs.join(' ')}; ${r.peer.name} ${r.peer.runsMs.join(' ')}`;
      return [`- **${r.case}**: ${r.notes.join('; ')}`, `  ${runs}`].join('\n');
    })
    .join('\n');
}

function machineText(m) {
  const v = m.versions;
  return [
    `- ${m.nproc} CPUs (${m.cpu}), ${m.ramGiB} GiB RAM, Linux ${m.kernel}`,
    `- disk: ${m.disk}`,
    ...(m.memory ? [`- memory: ${m.memory}`] : []),
    `- load average at start: ${m.loadAverageStart}; at end: ${m.loadAverageEnd} (other work shared the machine)`,
    `- node ${v.node}; ${v.skopeo}; docker ${v.docker}; ${v.pigz}; ${v.gzip}; ${v.tar}; ${v.registry}; containerify ${v.containerify}`,
  ].join('\n');
}

function profileText(p) {
  if (!p) return '';
  if (p.error) return `\n## Profile\n\n${p.case}: profiling failed: ${p.error}\n`;
  const list = (xs) => xs.map((x) => `| ${cell(x.name)} | ${x.ms} | ${x.pct}% |`).join('\n');
  return [
    '',
    `## Profile: ${p.case} (the furthest from what it can reach: ${p.distance.toFixed(2)}× the target, or the job's floor where the target is under it)`,
    '',
    `\`node --cpu-prof\` of one pd run (${secs(p.wallMs)} wall, ${secs(p.sampledMs)} sampled on the main thread).`,
    '',
    '| by owner (self time) | ms | share |',
    '|---|---:|---:|',
    list(p.owners.slice(0, 10)),
    '',
    '| top frames (self time) | ms | share |',
    '|---|---:|---:|',
    list(p.self.slice(0, 15)),
    '',
    '| top frames (inclusive) | ms | share |',
    '|---|---:|---:|',
    list(p.inclusive.slice(0, 15)),
    '',
  ].join('\n');
}

/** The dated results file: table, notes, library-level rows, machine, profile. */
export function resultsMarkdown({ date, rows, library, machine, options, profile, durationS }) {
  const parts = [
    `# pd benchmarks, ${date}`,
    '',
    `\`pnpm bench ${options.argv.join(' ')}\` — median of ${options.iterations} runs after ${options.warmups} warm-up run(s) excluded, pd, peer and floors alternating; ratio = pd median / peer median; each floor (the least the job costs: bench/README.md#floors) also as a ratio to the peer. Took ${durationS} s.`,
    '',
    table(rows),
    '',
    '## Notes per case',
    '',
    notes(rows) || '(none measured)',
  ];
  if (library.length) {
    parts.push(
      '',
      '## Library-level measurements (the same job in-process, without the CLI; informational)',
      '',
      table(library),
      '',
      notes(library),
    );
  }
  parts.push('', '## Machine', '', machineText(machine), profileText(profile));
  return `${parts.join('\n')}\n`;
}

const SECTION = '## Performance';

/** Replace (or append at the end) README's Performance section with the latest table. */
export async function updateReadme(file, { date, rows, machine, resultsPath }) {
  const text = await readFile(file, 'utf8');
  const section = [
    SECTION,
    '',
    `Measured by \`pnpm bench\` on ${date} (${machine.nproc} CPUs, ${machine.cpu}, ${machine.ramGiB} GiB RAM; load average ${machine.loadAverageStart} at the start: the machine was shared, so treat small differences as noise). pd runs as users run it, the built CLI in a child process; times are medians of alternating runs, RSS the peak of GNU time; the floors (what the job costs at the least, as a ratio to the peer) ran in the same rounds; "under the floor" marks a target that asks for less than a Node program doing the whole job took. Details, notes and the profile: [${resultsPath}](${resultsPath}); how to read and rerun: [bench/README.md](bench/README.md).`,
    '',
    table(rows),
    '',
  ].join('\n');
  const at = text.indexOf(`\n${SECTION}\n`);
  let next;
  if (at === -1) next = `${text.trimEnd()}\n\n${section}`;
  else {
    // The section runs to the next heading of the same or a higher level, or to the end.
    const rest = text.slice(at + 1 + SECTION.length);
    const end = rest.search(/\n#{1,2} /);
    next = `${text.slice(0, at + 1)}${section}${end === -1 ? '' : rest.slice(end + 1).replace(/^/, '\n')}`;
  }
  await writeFile(file, next.endsWith('\n') ? next : `${next}\n`);
}
