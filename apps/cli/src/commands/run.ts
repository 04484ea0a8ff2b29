import { InvalidReferenceError } from '@pd/oci-types';
import {
  type PullPolicy,
  type RunnerEvent,
  type RunOptions,
  run as runImage,
  startContainer,
} from '@pd/runner';
import { defineCommand } from '../command.js';
import { PLATFORM_OPTION, parseRef } from './shared.js';

export const run = defineCommand({
  name: 'run',
  usage: '[options] IMAGE [-- COMMAND ARGS...]',
  description:
    'IMAGE is a reference or a file (docker archive, OCI archive or layout; pick one image of a file as\n' +
    'skopeo does: docker-archive:FILE:TAG, FILE:@N, oci:DIR:REF). Layers are unpacked once into\n' +
    'the cache and shared by every container; the root filesystem is an overlay (or a copy where overlays\n' +
    'are not possible). Words after IMAGE (or after --) replace the image’s Cmd. pd exits with the\n' +
    'container’s exit code (128+N when a signal N ended it). Needs root, or rootless user namespaces.\n' +
    'With -d the container runs in the background and outlives pd: pd prints its id and exits; its output\n' +
    'goes to a log (pd logs), and pd ps, exec, stop, kill, wait and rm act on it.',
  args: [{ name: 'IMAGE' }, { name: 'COMMAND', required: false, variadic: true }],
  stopAfterArg: 'IMAGE',
  options: {
    detach: {
      type: 'boolean',
      short: 'd',
      description: 'run in the background, print the id (output: pd logs; then pd ps, stop, wait, rm)',
    },
    interactive: { type: 'boolean', short: 'i', description: 'keep stdin connected' },
    tty: { type: 'boolean', short: 't', description: 'give the container a terminal' },
    rm: { type: 'boolean', description: 'remove the container when it exits' },
    env: {
      type: 'string',
      short: 'e',
      multiple: true,
      value: 'K=V',
      description: 'set a variable (-e K copies K from here)',
    },
    'env-file': {
      type: 'string',
      multiple: true,
      value: 'FILE',
      complete: 'file',
      description: 'read K=V lines from FILE',
    },
    workdir: { type: 'string', short: 'w', value: 'DIR', description: 'working directory in the container' },
    user: { type: 'string', short: 'u', value: 'USER[:GROUP]', description: 'user (name or uid) to run as' },
    volume: {
      type: 'string',
      short: 'v',
      multiple: true,
      value: 'HOST:CTR[:ro]',
      description: 'bind-mount a host path (absolute) into the container',
    },
    entrypoint: {
      type: 'string',
      value: 'PATH',
      description: 'run PATH instead of the image’s entrypoint ("" clears it)',
    },
    'read-only': { type: 'boolean', description: 'mount the root filesystem read-only' },
    memory: {
      type: 'string',
      short: 'm',
      value: 'SIZE',
      description: 'memory limit (bytes, or 512m, 2g; binary units as docker)',
    },
    cpus: { type: 'string', value: 'N', description: 'CPU limit in CPUs (0.5 = half of one)' },
    'pids-limit': { type: 'string', value: 'N', description: 'most processes at once (-1: unlimited)' },
    'cap-add': {
      type: 'string',
      multiple: true,
      value: 'CAP',
      description: 'add a capability (NET_ADMIN, SYS_PTRACE, ALL)',
    },
    'cap-drop': {
      type: 'string',
      multiple: true,
      value: 'CAP',
      description: 'drop a capability (ALL: all but those added)',
    },
    'security-opt': {
      type: 'string',
      multiple: true,
      value: 'OPT',
      description: 'no-new-privileges (setuid files give no privileges)',
    },
    tmpfs: {
      type: 'string',
      multiple: true,
      value: 'PATH[:OPTS]',
      description: 'mount a tmpfs (nosuid,nodev,noexec + OPTS, e.g. size=64m)',
    },
    name: { type: 'string', value: 'NAME', description: 'container name (default: random)' },
    hostname: { type: 'string', value: 'NAME', description: 'host name in the container' },
    network: {
      type: 'string',
      value: 'MODE',
      choices: ['none', 'host'],
      description: 'none (default: loopback only) or host (the host’s network)',
    },
    runtime: {
      type: 'string',
      value: 'RUNTIME',
      choices: ['runc', 'crun', 'docker'],
      description: 'what runs the container (default: runc, else crun)',
    },
    pull: {
      type: 'string',
      value: 'POLICY',
      choices: ['missing', 'always', 'never'],
      description: 'when to ask the registry for IMAGE (default missing)',
    },
    platform: PLATFORM_OPTION,
  },
  examples: [
    { note: 'a shell in an image', command: 'pd run -it --rm busybox:1.36 sh' },
    {
      note: 'a command with env and a volume',
      command: 'pd run --rm -e MODE=ci -v "$PWD:/src:ro" -w /src node:20 -- npm test',
    },
    { note: 'a server in the background', command: 'pd run -d --name web --network host nginx:1.27' },
    {
      note: 'limits and fewer privileges',
      command: 'pd run --rm -m 256m --cpus 0.5 --pids-limit 100 --cap-drop ALL --tmpfs /tmp app:1',
    },
    { note: 'an image file, with docker as the runtime', command: 'pd run --runtime docker --rm app.tar' },
    {
      note: 'use the exit code',
      command: 'pd run --rm localhost:5000/app:1 check || echo "check failed: $?"',
    },
  ],
  async run(ctx, { args, values, rest }) {
    const onLog = (e: RunnerEvent) => {
      if (e.kind === 'warning') ctx.warn(e.message);
      else ctx.log(e.message);
      // The container writes to the terminal from now on: leave the bars where they are.
      if (e.kind === 'exec' || e.kind === 'docker') ctx.progress.release();
    };
    const options: RunOptions = {
      ...(rest.length > 0 ? { args: rest } : {}),
      ...(values.entrypoint !== undefined ? { entrypoint: values.entrypoint } : {}),
      env: values.env,
      envFiles: values['env-file'],
      volumes: values.volume,
      ...(values.workdir !== undefined ? { workdir: values.workdir } : {}),
      ...(values.user !== undefined ? { user: values.user } : {}),
      ...(values.name !== undefined ? { name: values.name } : {}),
      ...(values.hostname !== undefined ? { hostname: values.hostname } : {}),
      ...(values.network !== undefined ? { network: values.network as 'none' | 'host' } : {}),
      ...(values.runtime !== undefined ? { runtime: values.runtime } : {}),
      ...(values.pull !== undefined ? { pull: values.pull as PullPolicy } : {}),
      ...(values.platform !== undefined ? { platform: values.platform } : {}),
      ...(values.memory !== undefined ? { memory: values.memory } : {}),
      ...(values.cpus !== undefined ? { cpus: values.cpus } : {}),
      ...(values['pids-limit'] !== undefined ? { pidsLimit: Number(values['pids-limit']) } : {}),
      capAdd: values['cap-add'],
      capDrop: values['cap-drop'],
      securityOpt: values['security-opt'],
      tmpfs: values.tmpfs,
      readOnly: values['read-only'] === true,
      interactive: values.interactive === true,
      tty: values.tty === true,
      rm: values.rm === true,
      onProgress: ctx.progress.listener,
      onLog,
    };
    // Only --insecure needs the CLI's own client; otherwise a warm run loads no registry code.
    if (ctx.flags.insecure) options.client = await ctx.registry();
    // IMAGE may be a file or a transport (x.tar:@1, oci:DIR:REF, docker://REF): the runner reads
    // it. A malformed reference is parsed again here, where a typo gets the hint on how to write one.
    const explain = (e: unknown): never => {
      if (e instanceof InvalidReferenceError && !e.hint) parseRef(args.IMAGE!);
      throw e;
    };
    if (values.detach) {
      const { id } = await startContainer(args.IMAGE!, options).catch(explain);
      ctx.print(id);
      return 0;
    }
    const result = await runImage(args.IMAGE!, options).catch(explain);
    return result.exitCode;
  },
});
