// The machine a run was measured on, for the results file.
import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import { spawnCollect } from './measure.mjs';
import { which } from './setup.mjs';

async function firstLine(cmd, args) {
  if (!which(cmd)) return 'not installed';
  try {
    const r = await spawnCollect(cmd, args, { timeoutMs: 15_000 });
    return `${r.stdout}${r.stderr}`.trim().split('\n')[0] || `exit ${r.code}`;
  } catch (e) {
    return `unknown (${e.message})`;
  }
}

async function cpuModel() {
  const info = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  return /^model name\s*:\s*(.+)$/m.exec(info)?.[1] ?? 'unknown';
}

/** Filesystem, device and whether it spins, for the directory holding outputs and caches. */
async function disk(dir) {
  const r = await spawnCollect('df', ['-hT', dir], { timeoutMs: 15_000 });
  const [dev, type, size, , avail] = (r.stdout.trim().split('\n')[1] ?? '').split(/\s+/);
  const name = dev?.replace(/^\/dev\//, '').replace(/[0-9]+$/, '');
  const rot = await readFile(`/sys/block/${name}/queue/rotational`, 'utf8').catch(() => undefined);
  const kind = rot === undefined ? '' : rot.trim() === '1' ? ', rotational' : ', non-rotational';
  return `${dev} ${type}, ${size} (${avail} free)${kind}`;
}

export async function describeMachine({ workDir, dockerHost, containerify }) {
  const docker = dockerHost
    ? await firstLine('docker', [
        '-H',
        dockerHost,
        'version',
        '--format',
        'client {{.Client.Version}}, engine {{.Server.Version}}',
      ])
    : await firstLine('docker', ['--version']);
  return {
    nproc: availableParallelism(),
    cpu: await cpuModel(),
    ramGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    kernel: release(),
    disk: await disk(workDir),
    loadAverage: loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
    versions: {
      node: process.version,
      skopeo: await firstLine('skopeo', ['--version']),
      docker,
      pigz: await firstLine('pigz', ['--version']),
      gzip: await firstLine('gzip', ['--version']),
      tar: await firstLine('tar', ['--version']),
      registry: await firstLine('docker-registry', ['--version']),
      containerify: containerify
        ? await firstLine(process.execPath, [containerify, '--version'])
        : 'not used',
    },
  };
}
