import {
  type ContainerInfo,
  containerLogs,
  execInContainer,
  killContainer,
  listContainers,
  removeContainer,
  stopContainer,
  waitContainer,
} from '@pd/runner';
import { defineCommand } from '../command.js';
import { UsageError } from '../output/errors.js';

// The container commands of docker (ps, logs, exec, stop, kill, rm, wait) over @pd/runner's
// lifecycle functions: flags are mapped, the output is laid out as docker lays it out.

/** Docker's human durations (go-units HumanDuration): "5 seconds", "About a minute", "3 hours". */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

/** `Up 5 seconds`, `Exited (3) 2 minutes ago`, as `docker ps` says it. */
export function statusText(c: ContainerInfo, now = Date.now()): string {
  if (c.state === 'running') return `Up ${humanDuration(now - Date.parse(c.created))}`;
  if (c.state === 'orphaned') return `Up ${humanDuration(now - Date.parse(c.created))} (orphaned)`;
  const code = c.exitCode === undefined ? '?' : String(c.exitCode);
  return c.finishedAt
    ? `Exited (${code}) ${humanDuration(now - Date.parse(c.finishedAt))} ago`
    : `Exited (${code})`;
}

/** Docker's COMMAND column: the command line, cut to 20 characters with "…", in double quotes. */
function commandText(argv: string[] | undefined, trunc: boolean): string {
  const line = (argv ?? []).join(' ');
  return JSON.stringify(trunc && [...line].length > 20 ? `${[...line].slice(0, 19).join('')}…` : line);
}

/** Columns padded to their widest cell, 3 spaces apart (docker's tabwriter). */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...r[i]!].length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]! + 3)))
      .join('')
      .trimEnd(),
  );
}

export const ps = defineCommand({
  name: 'ps',
  usage: '[-a] [--no-trunc]',
  description:
    'Lists the containers pd keeps in its cache: running ones (detached with pd run -d, or in the\n' +
    'foreground in another pd run), and with -a the exited ones it kept (runs not told to remove\n' +
    'them). A container whose supervisor was killed while it still runs is shown as orphaned. -q (global) prints only the ids.',
  args: [],
  options: {
    all: { type: 'boolean', short: 'a', description: 'also exited containers' },
    'no-trunc': { type: 'boolean', description: 'full ids and commands' },
  },
  json:
    '[{ "id", "name", "image", "command": [..], "created", "state": "running|exited|orphaned",\n' +
    '   "status", "exitCode", "finishedAt", "detached" }]',
  examples: [
    { note: 'what runs', command: 'pd ps' },
    {
      note: 'remove every exited container',
      command: 'pd ps -a --json | jq -r \'.[] | select(.state=="exited") | .id\' | xargs pd rm',
    },
  ],
  async run(ctx, { values }) {
    const all = (await listContainers())
      .filter((c) => values.all || c.state !== 'exited')
      .sort((a, b) => Date.parse(b.created) - Date.parse(a.created));
    const trunc = values['no-trunc'] !== true;
    const id = (c: ContainerInfo) => (trunc ? c.id.slice(0, 12) : c.id);
    if (ctx.flags.json) {
      ctx.printJson(
        all.map((c) => ({
          id: c.id,
          name: c.name ?? null,
          image: c.image ?? null,
          command: c.command ?? [],
          created: c.created,
          state: c.state,
          status: statusText(c),
          exitCode: c.exitCode ?? null,
          finishedAt: c.finishedAt ?? null,
          detached: c.detached === true,
        })),
      );
      return 0;
    }
    if (ctx.flags.quiet) {
      for (const c of all) ctx.print(id(c));
      return 0;
    }
    const now = Date.now();
    const rows = [
      ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'NAMES'],
      ...all.map((c) => [
        id(c),
        c.image ?? '',
        commandText(c.command, trunc),
        `${humanDuration(now - Date.parse(c.created))} ago`,
        statusText(c, now),
        c.name ?? '',
      ]),
    ];
    for (const line of table(rows)) ctx.print(line);
    return 0;
  },
});

export const logs = defineCommand({
  name: 'logs',
  usage: '[-f] [-t] CONTAINER',
  description:
    'The container’s stdout goes to stdout and its stderr to stderr, line by line as it wrote them\n' +
    '(a container with -t has one stream). Containers run in the foreground keep no log. CONTAINER is a\n' +
    'name, an id or a unique prefix of one.',
  args: [{ name: 'CONTAINER' }],
  options: {
    follow: { type: 'boolean', short: 'f', description: 'follow the output until the container exits' },
    timestamps: { type: 'boolean', short: 't', description: 'prefix each line with its time' },
  },
  examples: [
    { note: 'the output so far', command: 'pd logs web' },
    { note: 'follow it', command: 'pd logs -f web' },
  ],
  async run(ctx, { args, values }) {
    await containerLogs(args.CONTAINER!, {
      follow: values.follow === true,
      timestamps: values.timestamps === true,
      signal: ctx.signal,
    });
    return 0;
  },
});

export const exec = defineCommand({
  name: 'exec',
  usage: '[options] CONTAINER COMMAND [ARGS...]',
  description:
    'The command runs in the container’s namespaces, cgroup and root filesystem, with its environment,\n' +
    'user and working directory unless -e, -u, -w say otherwise. pd exits with the command’s exit code.',
  args: [{ name: 'CONTAINER' }, { name: 'COMMAND', variadic: true }],
  stopAfterArg: 'CONTAINER',
  options: {
    interactive: { type: 'boolean', short: 'i', description: 'keep stdin connected' },
    tty: { type: 'boolean', short: 't', description: 'give the command a terminal' },
    user: { type: 'string', short: 'u', value: 'USER[:GROUP]', description: 'user (name or uid) to run as' },
    workdir: { type: 'string', short: 'w', value: 'DIR', description: 'working directory' },
    env: { type: 'string', short: 'e', multiple: true, value: 'K=V', description: 'set a variable' },
  },
  examples: [
    { note: 'a shell in a running container', command: 'pd exec -it web sh' },
    { note: 'as another user, elsewhere', command: 'pd exec -u nobody -w /tmp -e DEBUG=1 web ls -l' },
  ],
  async run(_ctx, { args, values, rest }) {
    if (rest.length === 0)
      throw new UsageError('missing argument COMMAND', 'pd exec CONTAINER COMMAND [ARGS...]');
    const r = await execInContainer(args.CONTAINER!, rest, {
      ...(values.user !== undefined ? { user: values.user } : {}),
      ...(values.workdir !== undefined ? { workdir: values.workdir } : {}),
      env: values.env,
      interactive: values.interactive === true,
      tty: values.tty === true,
    });
    return r.exitCode;
  },
});

export const stop = defineCommand({
  name: 'stop',
  usage: '[-t SECS] CONTAINER...',
  description:
    'Each container’s main process gets SIGTERM (or -s SIGNAL); when it is still there after -t seconds\n' +
    '(default 10) it is killed. pd waits until it has exited. A container that is not running is left alone.',
  args: [{ name: 'CONTAINER', variadic: true }],
  options: {
    time: { type: 'string', short: 't', value: 'SECS', description: 'seconds before SIGKILL (default 10)' },
    signal: {
      type: 'string',
      short: 's',
      value: 'SIGNAL',
      description: 'signal to stop with (default SIGTERM)',
    },
  },
  examples: [{ note: 'give it 30 seconds', command: 'pd stop -t 30 web' }],
  async run(ctx, { values, rest }) {
    const timeout = values.time === undefined ? 10 : Number(values.time);
    if (!Number.isInteger(timeout) || timeout < 0)
      throw new UsageError(`invalid -t "${values.time}"`, 'give a whole number of seconds');
    for (const name of rest) {
      await stopContainer(name, { timeout, ...(values.signal ? { signal: values.signal } : {}) });
      ctx.print(name);
    }
    return 0;
  },
});

export const kill = defineCommand({
  name: 'kill',
  usage: '[-s SIGNAL] CONTAINER...',
  args: [{ name: 'CONTAINER', variadic: true }],
  options: {
    signal: { type: 'string', short: 's', value: 'SIGNAL', description: 'name or number (default KILL)' },
  },
  examples: [{ note: 'ask it to reload', command: 'pd kill -s HUP web' }],
  async run(ctx, { values, rest }) {
    for (const name of rest) {
      await killContainer(name, values.signal ? { signal: values.signal } : {});
      ctx.print(name);
    }
    return 0;
  },
});

export const rm = defineCommand({
  name: 'rm',
  usage: '[-f] CONTAINER...',
  description:
    'Removes the container’s writable layer, bundle, runtime state and anything mounted for it. A running\n' +
    'container is refused unless -f, which kills it (SIGKILL) first.',
  args: [{ name: 'CONTAINER', variadic: true }],
  options: {
    force: { type: 'boolean', short: 'f', description: 'kill a running container, then remove it' },
  },
  examples: [{ note: 'stop and remove', command: 'pd rm -f web' }],
  async run(ctx, { values, rest }) {
    for (const name of rest) {
      await removeContainer(name, { force: values.force === true });
      ctx.print(name);
    }
    return 0;
  },
});

export const wait = defineCommand({
  name: 'wait',
  usage: 'CONTAINER...',
  args: [{ name: 'CONTAINER', variadic: true }],
  options: {},
  examples: [{ note: 'fail when the job failed', command: 'test "$(pd wait job)" = 0' }],
  async run(ctx, { rest }) {
    for (const name of rest) {
      const r = await waitContainer(name, { signal: ctx.signal });
      // Nobody saw it end (its supervisor was killed): docker has no such case; say so.
      if (r.exitCode === undefined) {
        ctx.warn(`${name}: exit code unknown (its supervisor was killed)`);
        ctx.print('-1');
      } else ctx.print(String(r.exitCode));
    }
    return 0;
  },
});
