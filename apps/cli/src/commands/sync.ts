import { readFile } from 'node:fs/promises';
import { type SyncSource, type SyncTask, sync } from '@pd/image';
import { type Check, PdError, parsePlatform, v, validateWith } from '@pd/oci-types';
import { parse } from 'yaml';
import { defineCommand } from '../command.js';
import { UsageError } from '../output/errors.js';
import { parsePlatformChoice } from './platform.js';
import { PLATFORMS_OPTION } from './platform-options.js';

/**
 * A directory is written `dir:PATH`, or as a path (`/…`, `./…`, `../…`); anything else is a
 * registry repository, `docker://` allowed. A bare word never means a directory: `mirror` would
 * otherwise be docker.io/library/mirror to one reader and ./mirror to another.
 */
export function syncEndpoint(text: string): SyncSource {
  if (text.startsWith('dir:')) return { directory: text.slice(4) };
  if (/^(\/|\.\.?\/|\.\.?$)/.test(text)) return { directory: text };
  return { registry: text.replace(/^docker:\/\//, '') };
}

const platformList: Check<string[] | 'all'> = (value, path, what) => {
  if (value === 'all') return value;
  const list = v.arrayOf(v.nonEmptyString, { minItems: 1 })(value, path, what);
  for (const [i, p] of list.entries()) {
    try {
      parsePlatform(p);
    } catch (e) {
      v.fail(what, v.childPath(path, i), (e as Error).message);
    }
  }
  return list;
};

const entryCheck = v.strictObject({
  from: v.required(v.nonEmptyString),
  to: v.required(v.nonEmptyString),
  tags: v.optional(v.arrayOf(v.nonEmptyString, { minItems: 1 })),
  tagRegex: v.optional(v.nonEmptyString),
  semver: v.optional(v.nonEmptyString),
  platforms: v.optional(platformList),
  scoped: v.optional(v.boolean),
});

const configCheck = v.strictObject({
  concurrency: v.optional(v.integer({ min: 1, max: 64 })),
  sync: v.required(v.arrayOf(entryCheck, { minItems: 1 })),
});

/** A sync.yaml: `sync:` entries (from, to, tags, tagRegex, semver, platforms, scoped), and `concurrency`. */
export async function readSyncConfig(path: string): Promise<{ tasks: SyncTask[]; concurrency?: number }> {
  // A file error goes as it is: the CLI names the path and the cause in one line.
  const text = await readFile(path, 'utf8');
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new PdError(`${path} is not YAML: ${(e as Error).message.split('\n')[0]}`, { code: 'SYNC_CONFIG' });
  }
  const config = validateWith(configCheck, doc, path);
  const tasks = config.sync.map(
    (e): SyncTask => ({
      from: syncEndpoint(e.from),
      to: syncEndpoint(e.to),
      ...(e.tags ? { tags: e.tags } : {}),
      ...(e.tagRegex !== undefined ? { tagRegex: e.tagRegex } : {}),
      ...(e.semver !== undefined ? { semver: e.semver } : {}),
      ...(e.platforms !== undefined
        ? { platforms: e.platforms === 'all' ? 'all' : e.platforms.map((p) => parsePlatform(p)) }
        : {}),
      ...(e.scoped ? { scoped: true } : {}),
    }),
  );
  return { tasks, ...(config.concurrency !== undefined ? { concurrency: config.concurrency } : {}) };
}

export const syncCommand = defineCommand({
  name: 'sync',
  usage: '(SOURCE DEST [--tag T]... [--tag-regex RE] [--semver RANGE] [--platform LIST|all] | --config FILE)',
  description:
    'SOURCE is a repository (every tag; REPO:TAG for one) or a directory of OCI layouts; DEST a\n' +
    'registry with an optional path (host/mirror) or a directory. A directory is written dir:PATH or\n' +
    'as a path (/…, ./…). Into a directory each repository becomes an OCI layout (DEST/app, its tags\n' +
    'as ref names), for carrying into an air-gapped site; from one, each layout goes to DEST/<its\n' +
    'path>. A repository lands under its last path component (team/app → DEST/app) unless --scoped.\n' +
    'Every digest is kept. An image the target already has is skipped without a byte moved, and an\n' +
    'interrupted sync resumes: the next run moves only what is missing. One line per image on\n' +
    'stderr, a summary on stdout; the exit code is 1 if any image failed.\n' +
    'sync.yaml: `sync:` a list of { from, to, tags, tagRegex, semver, platforms, scoped }, and an\n' +
    'optional `concurrency` (images at once, default 2).',
  args: [
    { name: 'SOURCE', required: false },
    { name: 'DEST', required: false },
  ],
  options: {
    config: {
      type: 'string',
      value: 'FILE',
      complete: 'file',
      description: 'what to sync, from a YAML file',
    },
    tag: { type: 'string', multiple: true, value: 'TAG', description: 'only this tag (repeatable)' },
    'tag-regex': { type: 'string', value: 'RE', description: 'only tags this regular expression matches' },
    semver: {
      type: 'string',
      value: 'RANGE',
      description: 'only tags that are versions in RANGE, e.g. ">=1.2 <2"',
    },
    platform: {
      type: 'string',
      // PLATFORMS_OPTION's value: the parser lets lists and `all` through for it.
      value: PLATFORMS_OPTION.value,
      description: 'platforms of multi-platform images to keep (default all: indexes as they are)',
    },
    scoped: { type: 'boolean', description: 'keep the whole repository path under DEST (team/app, not app)' },
    concurrency: { type: 'string', value: 'N', description: 'images moved at once (default 2)' },
  },
  json: '{ "images": [{ "source", "target", "digest", "status": "copied" | "up-to-date" | "failed", "error"? }],\n  "copied": 3, "upToDate": 1, "failed": 0 }',
  examples: [
    { note: 'mirror a repository', command: 'pd sync registry.example.com/team/app localhost:5000/mirror' },
    {
      note: 'into a directory for an air-gapped site',
      command: 'pd sync --semver ">=1.4" localhost:5000/app dir:./airgap',
    },
    {
      note: 'and from it into the site’s registry',
      command: 'pd sync ./airgap registry.internal:5000/mirror',
    },
    { note: 'many repositories, as a file says', command: 'pd sync --config sync.yaml' },
  ],
  async run(ctx, { args, values }) {
    const { tasks, concurrency } = await tasksOf(args, values);
    const n = values.concurrency !== undefined ? Number(values.concurrency) : concurrency;
    if (n !== undefined && !(Number.isInteger(n) && n >= 1 && n <= 64)) {
      throw new UsageError(`--concurrency ${values.concurrency}: give a whole number from 1 to 64`);
    }
    const report = await sync(tasks, {
      client: await ctx.registry(),
      signal: ctx.signal,
      ...(n !== undefined ? { concurrency: n } : {}),
      onImage: (i) => {
        if (i.status === 'failed') ctx.warn(`failed ${i.source}: ${i.error?.message}`);
        else ctx.info(`${i.status === 'copied' ? 'copied' : 'up to date'} ${i.source} -> ${i.target}`);
      },
    });
    if (ctx.flags.json) {
      ctx.printJson({
        ...report,
        images: report.images.map(({ error, ...i }) => ({
          ...i,
          ...(error ? { error: error.message } : {}),
        })),
      });
    } else {
      ctx.print(
        `synced ${report.images.length} image(s): ${report.copied} copied, ${report.upToDate} up to date, ${report.failed} failed`,
      );
    }
    return report.failed > 0 ? 1 : 0;
  },
});

async function tasksOf(
  args: Record<string, string | undefined>,
  values: {
    config?: string | undefined;
    tag: string[];
    'tag-regex'?: string | undefined;
    semver?: string | undefined;
    platform?: string | undefined;
    scoped?: boolean | undefined;
  },
): Promise<{ tasks: SyncTask[]; concurrency?: number }> {
  if (values.config !== undefined) {
    const flags = ['tag', 'tag-regex', 'semver', 'platform', 'scoped'] as const;
    const given = flags.filter((f) => (f === 'tag' ? values.tag.length > 0 : values[f] !== undefined));
    if (args.SOURCE !== undefined || given.length > 0) {
      throw new UsageError('--config says everything: give no SOURCE, DEST or filter options with it');
    }
    return readSyncConfig(values.config);
  }
  if (args.SOURCE === undefined || args.DEST === undefined) {
    throw new UsageError('give SOURCE and DEST, or --config FILE');
  }
  const choice = values.platform !== undefined ? parsePlatformChoice(values.platform) : undefined;
  const task: SyncTask = {
    from: syncEndpoint(args.SOURCE),
    to: syncEndpoint(args.DEST),
    ...(values.tag.length > 0 ? { tags: values.tag } : {}),
    ...(values['tag-regex'] !== undefined ? { tagRegex: values['tag-regex'] } : {}),
    ...(values.semver !== undefined ? { semver: values.semver } : {}),
    ...(choice ? { platforms: 'one' in choice ? [choice.one] : choice.many } : {}),
    ...(values.scoped ? { scoped: true } : {}),
  };
  return { tasks: [task] };
}
