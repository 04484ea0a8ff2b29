import {
  addToIndex,
  annotateIndex,
  type Image,
  type ImageIndex,
  type IndexEntry,
  type IndexSelector,
  newIndex,
  parseImageDestination,
  removeFromIndex,
} from '@pd/image';
import { type Platform, parsePlatform } from '@pd/oci-types';
import { defineCommand } from '../command.js';
import type { Context } from '../context.js';
import { UsageError } from '../output/errors.js';
import { emit, type OutputValues, openAny, registryRef, report } from './image-io.js';
import { parseKeyValue } from './shared.js';

// `crane index` and `docker manifest`, over pd's sources and destinations: entries are named by
// descriptor, children are pushed before the index with their blobs mounted, no layer is read.

const DEST_HELP =
  'The result goes to --to (a registry reference, or oci:DIR:REF, oci-archive:FILE:REF), by default\n' +
  'back to REF when REF is in a registry; its digest is printed.';

const TO_OPTION = {
  type: 'string',
  value: 'DEST',
  description: 'where the new index goes (default: REF itself, when in a registry)',
} as const;

const ANNOTATION_OPTION = {
  type: 'string',
  multiple: true,
  value: 'K=V',
  description: 'set an annotation (repeatable)',
} as const;

const JSON_SHAPE =
  '{ "digest": "sha256:…", "size": 1234, "mediaType": "…",\n' +
  '  "reference": "127.0.0.1:5000/app:1"  (to a registry)  |  "path": "DIR", "format": "oci-layout"  (to a file) }';

export const indexCreate = defineCommand({
  name: 'index create',
  usage: 'DEST --manifest IMG [--manifest IMG]... [--annotation K=V]... [--format oci|docker]',
  description:
    'Each IMG (a reference or any image source pd reads) is listed with the platform of its config; an\n' +
    'IMG that is itself an index adds each of its entries, platforms and annotations kept. The images\n' +
    'are pushed before the index, their blobs mounted within a registry (never downloaded). A manifest\n' +
    'list (Docker) when every image is Docker schema 2 and no annotation is given, else an OCI index.\n' +
    'DEST is a registry reference or oci:DIR:REF, oci-archive:FILE:REF.',
  args: [{ name: 'DEST' }],
  options: {
    manifest: { type: 'string', multiple: true, value: 'IMG', description: 'an image to list (repeatable)' },
    annotation: { ...ANNOTATION_OPTION, description: 'set an annotation of the index (repeatable)' },
    format: {
      type: 'string',
      value: 'FORMAT',
      choices: ['oci', 'docker'],
      description: 'oci: an OCI image index; docker: a manifest list (Docker schema 2 images only)',
    },
  },
  json: JSON_SHAPE,
  examples: [
    {
      note: 'one tag for the builds of two platforms',
      command:
        'pd index create localhost:5000/app:1 --manifest localhost:5000/app:1-amd64 --manifest localhost:5000/app:1-arm64',
    },
  ],
  async run(ctx, { args, values }) {
    if (values.manifest.length === 0) throw new UsageError('give at least one --manifest IMG');
    const entries: IndexEntry[] = [];
    for (const input of values.manifest) entries.push(...(await entriesOf(ctx, input)));
    const index = await newIndex(entries, {
      ...(values.format ? { family: values.format as 'oci' | 'docker' } : {}),
      ...(values.annotation.length > 0 ? { annotations: annotations(values.annotation) } : {}),
    });
    report(ctx, await emit(ctx, index, await destination(args.DEST!)));
    return 0;
  },
});

export const indexAdd = defineCommand({
  name: 'index add',
  usage: 'REF IMG... [--to DEST]',
  description:
    'Each IMG is added with the platform of its config (an IMG that is an index adds its entries); an\n' +
    'image the index already lists (same digest) is replaced in place. ' +
    DEST_HELP,
  args: [{ name: 'REF' }, { name: 'IMG', variadic: true }],
  options: { to: TO_OPTION },
  json: JSON_SHAPE,
  examples: [
    {
      note: 'add an s390x build to a published index',
      command: 'pd index add localhost:5000/app:1 localhost:5000/app:1-s390x',
    },
  ],
  async run(ctx, { args, rest, values }) {
    if (rest.length === 0) throw new UsageError('give at least one IMG to add');
    const index = await openIndex(ctx, args.REF!);
    const entries: IndexEntry[] = [];
    for (const input of rest) entries.push(...(await entriesOf(ctx, input)));
    report(ctx, await emit(ctx, await addToIndex(index, entries), await destination(values.to ?? args.REF!)));
    return 0;
  },
});

const SELECT_OPTIONS = {
  platform: {
    type: 'string',
    value: 'OS/ARCH[/VARIANT]',
    description: 'the entries of this platform (linux/arm names every arm variant)',
  },
  digest: { type: 'string', value: 'DIGEST', description: 'the entry with this digest' },
} as const;

export const indexRemove = defineCommand({
  name: 'index remove',
  usage: 'REF (--platform OS/ARCH[/VARIANT] | --digest DIGEST) [--to DEST]',
  description: `The entries named are dropped from the index; the images stay where they are. ${DEST_HELP}`,
  args: [{ name: 'REF' }],
  options: { ...SELECT_OPTIONS, to: TO_OPTION },
  json: JSON_SHAPE,
  examples: [
    {
      note: 'drop the 32-bit arm builds',
      command: 'pd index remove localhost:5000/app:1 --platform linux/arm',
    },
  ],
  async run(ctx, { args, values }) {
    const selector = selectorOf(values);
    if (!selector) throw new UsageError('say which entries: --platform OS/ARCH or --digest DIGEST');
    const index = await openIndex(ctx, args.REF!);
    report(
      ctx,
      await emit(ctx, await removeFromIndex(index, selector), await destination(values.to ?? args.REF!)),
    );
    return 0;
  },
});

export const indexAnnotate = defineCommand({
  name: 'index annotate',
  usage:
    'REF [--platform OS/ARCH | --digest DIGEST] [--annotation K=V]... [--remove-annotation K]... [--set-platform OS/ARCH[/VARIANT]] [--to DEST]',
  description:
    'With --platform or --digest the entries they name are changed, else the index itself. A manifest\n' +
    'list (Docker) has no annotations: it becomes an OCI index when one is set (its digest changes).\n' +
    '--set-platform rewrites the platform the entries declare (what docker manifest annotate sets). ' +
    DEST_HELP,
  args: [{ name: 'REF' }],
  options: {
    ...SELECT_OPTIONS,
    annotation: ANNOTATION_OPTION,
    'remove-annotation': {
      type: 'string',
      multiple: true,
      value: 'K',
      description: 'remove an annotation (repeatable)',
    },
    'set-platform': {
      type: 'string',
      value: 'OS/ARCH[/VARIANT]',
      description: 'the platform the entries declare',
    },
    to: TO_OPTION,
  },
  json: JSON_SHAPE,
  examples: [
    {
      note: 'say where the arm64 build comes from',
      command:
        'pd index annotate localhost:5000/app:1 --platform linux/arm64 --annotation org.opencontainers.image.source=https://example.com/app',
    },
  ],
  async run(ctx, { args, values }) {
    const changes: Record<string, string | null> = annotations(values.annotation);
    for (const k of values['remove-annotation']) changes[k] = null;
    const selector = selectorOf(values);
    const setPlatform = values['set-platform'];
    if (Object.keys(changes).length === 0 && !setPlatform) {
      throw new UsageError('nothing to change: give --annotation, --remove-annotation or --set-platform');
    }
    if (setPlatform && !selector)
      throw new UsageError('--set-platform needs --platform or --digest (the entries to change)');
    const index = await openIndex(ctx, args.REF!);
    const edited = await annotateIndex(index, {
      annotations: changes,
      ...(selector ? { entries: selector } : {}),
      ...(setPlatform ? { platform: parsePlatform(setPlatform) } : {}),
    });
    report(ctx, await emit(ctx, edited, await destination(values.to ?? args.REF!)));
    return 0;
  },
});

/** The index REF names (any source pd reads); a single image is refused with what to do. */
async function openIndex(ctx: Context, input: string): Promise<ImageIndex> {
  const got = await openAny(ctx, input, 'all');
  if (got.kind !== 'index') {
    throw new UsageError(
      `${input} is a single image, not an index`,
      `pd index create DEST --manifest ${input} makes one`,
    );
  }
  return got;
}

/** What an IMG adds: itself, or each entry of an index (its descriptor's platform and annotations). */
async function entriesOf(ctx: Context, input: string): Promise<IndexEntry[]> {
  const got: Image | ImageIndex = await openAny(ctx, input, 'all');
  if (got.kind === 'image') return [{ image: got }];
  const out: IndexEntry[] = [];
  for (const child of await got.children()) {
    const { platform, annotations: a } = child.descriptor;
    out.push({
      image: await child.open(),
      ...(platform ? { platform } : {}),
      ...(a ? { annotations: a } : {}),
    });
  }
  return out;
}

/** Where the result goes: a registry reference (pushed) or a file destination (written). */
async function destination(dest: string): Promise<OutputValues> {
  if (parseImageDestination(dest).transport !== undefined) return { output: dest };
  if (/^(\.{0,2}\/|[^:]*\.tar$)/.test(dest)) {
    throw new UsageError(
      `${dest} is a file`,
      'name a file destination as oci:DIR:REF or oci-archive:FILE:REF, or give --to',
    );
  }
  return { tag: (await registryRef(dest)).toString() };
}

function selectorOf(values: {
  platform?: string | undefined;
  digest?: string | undefined;
}): IndexSelector | undefined {
  if (!values.platform && !values.digest) return undefined;
  const platform: Platform | undefined = values.platform ? parsePlatform(values.platform) : undefined;
  return { ...(platform ? { platform } : {}), ...(values.digest ? { digest: values.digest } : {}) };
}

function annotations(pairs: readonly string[]): Record<string, string> {
  return Object.fromEntries(pairs.map((p) => parseKeyValue('--annotation', p)));
}
