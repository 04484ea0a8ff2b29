import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type Image, imagePlatform, layerSources, mapIndex } from '@pd/image';
import { formatPlatform, type Platform } from '@pd/oci-types';
import { applyLayers, type ExtractOptions, flattenLayers } from '@pd/tar';
import { defineCommand } from '../command.js';
import type { Context } from '../context.js';
import { UsageError } from '../output/errors.js';
import { formatBytes } from '../output/format.js';
import { openInput, openWhole, platformChoice, preconnectLayers } from './image-io.js';
import { PLATFORMS_OPTION } from './platform-options.js';
import { intoDirectory, writeFileAtomic } from './shared.js';

export const exportCommand = defineCommand({
  name: 'export',
  usage: '(REF | PATH) OUT [--platform OS/ARCH[,...]|all] [--portable]',
  description:
    'The layers are merged as a container would see them: whiteouts applied, hidden files dropped. OUT\n' +
    'ending in .tar (or - for stdout) gets one plain tar; any other OUT is a directory the files are\n' +
    'extracted into (safely: nothing is written outside it). As root the directory is what a container\n' +
    'sees and what umoci unpack writes: owners, setuid/setgid/sticky bits, device nodes and fifos;\n' +
    '--portable writes files owned by you, without special bits or devices (as pd did before). Not as\n' +
    'root, owners stay yours and device nodes are skipped (counted in a warning), as with GNU tar.\n' +
    'Extended attributes (e.g. security.capability) are written with setfattr (package attr), as root\n' +
    'all of them, else user.* ones; those the filesystem refuses are counted in a warning.\n' +
    'With --platform all (or a list) each platform of an index goes into its own subdirectory of\n' +
    'OUT, named as buildx names them: OUT/linux_amd64, OUT/linux_arm64_v8.',
  args: [{ name: 'IMAGE' }, { name: 'OUT', complete: 'file' }],
  options: {
    platform: PLATFORMS_OPTION,
    portable: {
      type: 'boolean',
      description: 'into a directory: no owners, special bits or device nodes, even as root',
    },
  },
  json: '{ "path": "rootfs.tar" }   or, for a directory, { "path": "rootfs", "entries": 42, "bytes": 123456, "skipped": 0, "xattrsSkipped": 0 }',
  examples: [
    { note: 'a rootfs tarball', command: 'pd export busybox:1.36 rootfs.tar' },
    { note: 'a directory to chroot into', command: 'pd export localhost:5000/app:1 ./rootfs' },
    { note: 'list the files of an image', command: 'pd export app.tar - | tar -t' },
    {
      note: 'every platform, a directory each',
      command: 'pd export --platform all localhost:5000/app:1 ./rootfs',
    },
  ],
  async run(ctx, { args, values }) {
    const out = args.OUT!;
    const choice = platformChoice(values);
    await preconnectLayers(ctx, args.IMAGE!);
    if (!choice || 'one' in choice) {
      const image = await openInput(ctx, args.IMAGE!, values.platform);
      await exportImage(ctx, image, out, values.portable === true);
      return 0;
    }
    if (out === '-' || /\.tar$/i.test(out)) {
      throw new UsageError(
        `--platform ${values.platform}: several platforms export into a directory, a subdirectory each`,
        'give a directory as OUT, or one --platform for a tar',
      );
    }
    const got = await openWhole(ctx, args.IMAGE!);
    const picked: { image: Image; platform: Platform | undefined }[] = [];
    if (got.kind === 'image') picked.push({ image: got, platform: undefined });
    else {
      // mapIndex's selection, children left as they are: the images --platform names.
      await mapIndex(
        got,
        async (image, d) => {
          picked.push({ image, platform: d.platform });
          return image;
        },
        { platforms: choice.many },
      );
    }
    const results = [];
    for (const { image, platform } of picked) {
      const named = platform ?? (await imagePlatform(image));
      const dir = join(out, platformDirectory(named));
      results.push({
        platform: named && formatPlatform(named),
        ...(await exportImage(ctx, image, dir, values.portable === true, true)),
      });
    }
    if (ctx.flags.json) ctx.printJson(results);
    return 0;
  },
});

/** The subdirectory of a platform in a multi-platform export, as buildx's local exporter names it. */
export function platformDirectory(platform: Platform | undefined): string {
  if (!platform) return 'unknown';
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('_');
}

/** Write `image`'s root filesystem to `out` (a tar, `-` or a directory) and say what was written. */
async function exportImage(
  ctx: Context,
  image: Image,
  out: string,
  portable: boolean,
  many = false,
): Promise<Record<string, unknown>> {
  const layers = await image.layers();
  // Files read where they lie; a registry's layers fetched into the cache side by side, each
  // unpacked from there once it is in (layerSources); the fetches stop when the export ends.
  const { sources, close } = layerSources(layers, {
    signal: ctx.signal,
    onProgress: (e, i) => ctx.progress.update({ ...e, label: `layer ${i + 1}/${layers.length}` }),
  });
  try {
    if (out === '-') {
      await pipeline(flattenLayers(sources, { signal: ctx.signal }), ctx.io.stdout, {
        end: false,
        signal: ctx.signal,
      });
      return { path: out };
    }
    if (/\.tar$/i.test(out)) {
      await writeFileAtomic(out, flattenLayers(sources, { signal: ctx.signal }), ctx.signal);
      if (ctx.flags.json) ctx.printJson({ path: out });
      else ctx.print(`wrote ${out} (${formatBytes((await stat(out)).size)})`);
      return { path: out };
    }
    const counts = { devices: 0 };
    const stats = await intoDirectory(out, () =>
      applyLayers(out, sources, {
        signal: ctx.signal,
        ...treeOptions(portable, counts, (line) => ctx.log(line)),
      }),
    );
    if (counts.devices > 0) {
      ctx.warn(`${out}: ${counts.devices} device node(s) not created: that needs root (and no --portable)`);
    }
    if (stats.xattrsSkipped > 0) {
      ctx.warn(
        `${out}: extended attributes of ${stats.xattrsSkipped} entries not written (pd --verbose says why)`,
      );
    }
    if (ctx.flags.json && !many) ctx.printJson({ path: out, ...stats });
    else if (!ctx.flags.json)
      ctx.print(`exported ${stats.entries} entries (${formatBytes(stats.bytes)}) into ${out}`);
    return { path: out, ...stats };
  } finally {
    close();
  }
}

/**
 * What a directory export keeps: everything a container sees (umoci unpack's rootfs), unless
 * --portable. extract() applies owners, special bits and devices only as root, so not as root the
 * files are the user's, fifos still made, devices skipped and counted.
 */
function treeOptions(
  portable: boolean,
  counts: { devices: number },
  log: (line: string) => void,
): Omit<ExtractOptions, 'whiteouts'> {
  return {
    chown: !portable,
    specialModes: !portable,
    devices: !portable,
    xattrs: !portable,
    onSkip: (h, reason) => {
      if (h.type === 'character-device' || h.type === 'block-device') counts.devices++;
      log(`${h.name}: ${reason}`);
    },
  };
}
