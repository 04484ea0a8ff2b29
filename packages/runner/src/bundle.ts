import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname as hostHostname } from 'node:os';
import { join } from 'node:path';
import type { Image } from '@pd/image';
import type { Digest, Mount, RuntimeSpec } from '@pd/oci-types';
import { containerEnv, readEnvFiles, userEnvEntries } from './env.js';
import {
  ContainerExistsError,
  InvalidOptionError,
  NoCommandError,
  RootlessLimitError,
  RootlessUnavailableError,
} from './errors.js';
import { hostsFile, resolvConf } from './etc-files.js';
import { recordImage } from './image-record.js';
import { type CachedLayer, LayerStore } from './layer-store.js';
import { capabilities, checkLimits, noNewPrivileges, resourceLimits, tmpfsMount } from './limits.js';
import { lookupPath } from './lookup.js';
import type { RunOptions } from './options.js';
import { claimBundle, currentOwner, OWNER_FILE, releaseBundle } from './owner.js';
import { defaultCacheDir, isRoot, privateDir } from './paths.js';
import {
  absoluteOverlayOptions,
  copyLayers,
  mountOverlay,
  OVERLAY_OPTIONS_MAX,
  planRootfs,
  type RootfsPlan,
} from './rootfs.js';
import { resolveImage, resolveOptions } from './source.js';
import { buildSpec } from './spec.js';
import { type ResolvedUser, resolveUser } from './user.js';
import { removeTree, rootlessMode, toHostId } from './userns.js';
import { checkVolume, parseVolume } from './volumes.js';

/** A bundle on disk: `config.json`, the root filesystem (or how to mount it) and the /etc files. */
export interface PreparedBundle {
  /** Container id (`--name` or random hex). */
  id: string;
  /** The bundle directory: `<cache>/containers/<id>`. */
  dir: string;
  /** The contents of `config.json`. */
  spec: RuntimeSpec;
  /** How the root filesystem is assembled (overlay or copy), and why. */
  rootfs: RootfsPlan;
  /** Whether the overlay is mounted on the host at `dir/rootfs` (`mountRootfs`); removeContainer unmounts it. */
  mounted: boolean;
  /**
   * Who mounts an overlay root: `host` (done, see `mounted`), `runtime` (config.json lists it as
   * the mount of `/`), `caller` (whoever runs the bundle; `run` does it in a private namespace).
   * Undefined for copied root filesystems.
   */
  overlayBy?: 'host' | 'runtime' | 'caller';
  /** The image's layers in the store, base first. */
  layers: CachedLayer[];
  /** The container user, resolved through the image's /etc/passwd and /etc/group. */
  user: ResolvedUser;
}

/**
 * Options of {@link prepareBundle}: those of {@link run}, plus how an overlay root is mounted and
 * which layer store to use.
 */
export interface PrepareOptions extends RunOptions {
  /**
   * For overlay bundles: `true` (default) mounts the overlay at `<bundle>/rootfs` on the host, so
   * that any OCI runtime can run the bundle as it is. `'runtime'` lists it in config.json as the
   * mount of `/`, which runc performs inside the container's mount namespace (crun does not
   * accept it). `false` leaves it to the caller (`run` mounts it in a private mount namespace).
   * The last two leave nothing mounted on the host.
   */
  mountRootfs?: boolean | 'runtime';
  /** A store to share between calls (default: one over `cacheDir`). */
  store?: LayerStore;
  /** The image as the user named it, for `pd ps` (default: `input` when it is a string). */
  imageName?: string;
  /** `run` keeps the bundle claimed (in use by this process) after it is prepared; see owner.ts. */
  [HOLD_CLAIM]?: true;
}

/** For `run`: the bundle stays claimed by this process until `releaseBundle(dir)`. */
export const HOLD_CLAIM: unique symbol = Symbol('pd.runner.holdClaim');

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** The directory of container bundles: `<cacheDir>/containers` (default cache: {@link defaultCacheDir}). */
export function containersDir(cacheDir?: string): string {
  return join(cacheDir ?? defaultCacheDir(), 'containers');
}

/** Docker's Entrypoint/Cmd rules: `--entrypoint` drops the image's Cmd; args replace Cmd. */
export function commandLine(
  image: { Entrypoint?: string[] | null; Cmd?: string[] | null },
  opts: Pick<RunOptions, 'entrypoint' | 'args'>,
): string[] {
  const args = opts.args ?? [];
  let argv: string[];
  if (opts.entrypoint !== undefined) {
    const ep =
      typeof opts.entrypoint === 'string'
        ? opts.entrypoint === ''
          ? []
          : [opts.entrypoint]
        : opts.entrypoint;
    argv = [...ep, ...args];
  } else {
    argv = [...(image.Entrypoint ?? []), ...(args.length > 0 ? args : (image.Cmd ?? []))];
  }
  if (argv.length === 0) throw new NoCommandError();
  return argv;
}

async function readImageFile(layers: CachedLayer[], path: string): Promise<string | undefined> {
  const hit = await lookupPath(layers, path);
  if (!hit?.stats.isFile()) return undefined;
  return readFileSync(hit.hostPath, 'utf8');
}

/**
 * Unpack what is missing and write an OCI runtime bundle for `image`: config.json from the image
 * config and the options (validated), /etc/hosts, /etc/hostname and /etc/resolv.conf, and the root
 * filesystem (an overlay over the cached layers, or a copy of them).
 */
export async function prepareBundle(
  input: Image | string,
  options: PrepareOptions = {},
): Promise<PreparedBundle> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const image = await resolveImage(input, resolveOptions(options));
  const store =
    options.store ?? new LayerStore({ cacheDir, ...(options.onLog ? { onLog: options.onLog } : {}) });
  if (options.name !== undefined && !NAME.test(options.name)) {
    throw new InvalidOptionError(
      '--name',
      `"${options.name}" is not a valid container name`,
      'use letters, digits, "_", "." and "-", starting with a letter or digit',
    );
  }
  const volumes = await Promise.all(
    (options.volumes ?? []).map((v) => checkVolume(typeof v === 'string' ? parseVolume(v) : v)),
  );
  if (options.workdir !== undefined && !options.workdir.startsWith('/')) {
    throw new InvalidOptionError('-w', `"${options.workdir}" is not an absolute path`);
  }
  // docker's resource and privilege flags (limits.ts), checked before anything is unpacked.
  const limits = resourceLimits(options);
  checkLimits(limits, !isRoot);
  const caps = capabilities(options.capAdd, options.capDrop);
  const nnp = noNewPrivileges(options.securityOpt);
  const tmpfs = (options.tmpfs ?? []).map(tmpfsMount);
  const network = options.network ?? 'none';
  if (network !== 'none' && network !== 'host')
    throw new InvalidOptionError('--network', `"${String(network)}"`, 'pd knows none and host');
  const config = await image.config();
  const cc = config.config ?? {};
  const argv = commandLine(cc, options);
  const userEnv = [...(await readEnvFiles(options.envFiles)), ...userEnvEntries(options.env)];

  const id = options.name ?? randomBytes(32).toString('hex');
  const dir = join(containersDir(cacheDir), id);
  // The bundle's small files are written (and the image's /etc/passwd read) with synchronous
  // calls: a `pd run` of a cached image made about fifteen of them one after the other, each a
  // thread-pool round trip that left pd waiting 0.5-1 ms, some 10 ms before runc could start.
  // Private (0700): bundles hold the root filesystems, with the images' setuid files and devices.
  await privateDir(containersDir(cacheDir));
  try {
    mkdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new ContainerExistsError(id);
    throw e;
  }
  claimBundle(dir);
  try {
    // Who is in charge, from the first moment: `pd cache prune` leaves the bundle of a live owner
    // alone, and knows a bundle whose owner died for an orphan (containers.ts).
    writeFileSync(join(dir, OWNER_FILE), JSON.stringify({ ...currentOwner(), rm: options.rm === true }));
    // The layers it will use are recorded before they are unpacked: a `pd cache prune` meanwhile
    // keeps them (pruneLayers reads every bundle's layers.json).
    // What pd commit builds on: the image's manifest and config, and where its blobs come from.
    // The name as given, even when the caller resolved it: commit fetches the layer blobs from
    // there when they are not cached (they are not when the store had the layers unpacked).
    await recordImage(dir, typeof input === 'string' ? input : (options.imageName ?? input), image);
    const imageLayers = await image.layers();
    const diffIds = await Promise.all(imageLayers.map((l) => l.diffId()));
    writeFileSync(join(dir, 'layers.json'), JSON.stringify(diffIds));
    const layers = await store.ensureAll(imageLayers, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });

    const userSpec = options.user ?? cc.User ?? '';
    const [passwd, group] = await Promise.all([
      readImageFile(layers, '/etc/passwd'),
      readImageFile(layers, '/etc/group'),
    ]);
    const user = resolveUser(userSpec, passwd, group);
    const rootlessMap = rootlessMode();
    const rootless = rootlessMap?.map;
    if (rootless) await assertUserNamespaces();
    if (rootlessMap?.kind === 'single') {
      if (user.uid !== 0 || user.gid !== 0)
        throw new RootlessLimitError(
          `running as uid ${user.uid}, gid ${user.gid} (only root is mapped: ${rootlessMap.why})`,
        );
      // setgroups(2) is denied in a user namespace written without newgidmap: no supplementary groups.
      user.additionalGids = [];
    } else if (rootless) {
      const outside = [
        ...(toHostId(rootless.uids, user.uid) === undefined ? [`uid ${user.uid}`] : []),
        ...[user.gid, ...user.additionalGids]
          .filter((g) => toHostId(rootless.gids, g) === undefined)
          .map((g) => `gid ${g}`),
      ];
      if (outside.length > 0)
        throw new RootlessLimitError(
          `running as ${outside.join(', ')} (beyond the subordinate ids of /etc/subuid)`,
        );
      // runc refuses supplementary groups in every rootless container (crun would take them).
      user.additionalGids = [];
    }

    const hostname = options.hostname ?? (network === 'host' ? hostHostname() : id.slice(0, 12));
    const rootfs = planRootfs(layers, dir, {
      mode: options.rootfs ?? 'auto',
      readOnly: options.readOnly === true,
      layersBase: join(store.root, 'sha256'),
    });
    options.onLog?.({
      kind: 'rootfs',
      message: `rootfs: ${rootfs.mode} (${rootfs.reason})`,
      mode: rootfs.mode,
      reason: rootfs.reason,
    });
    if (rootlessMap?.kind === 'mapped' && rootfs.mode === 'copy')
      throw new RootlessLimitError(
        `a copied root filesystem (${rootfs.reason}): only an overlay keeps the owners of subordinate ids`,
      );
    let overlayBy: PreparedBundle['overlayBy'];
    let rootMount: Mount | undefined;
    if (rootfs.mode === 'overlay') {
      overlayBy =
        options.mountRootfs === false && !rootless
          ? 'caller'
          : options.mountRootfs === 'runtime' || rootless
            ? 'runtime' // without root, only the runtime can, inside the container's user namespace
            : 'host';
      if (overlayBy === 'runtime') {
        // The runtime mounts from its own working directory: the lower directories must be absolute.
        const mountOptions = absoluteOverlayOptions(rootfs);
        if (mountOptions.length <= OVERLAY_OPTIONS_MAX) {
          rootMount = {
            destination: '/',
            type: 'overlay',
            source: 'overlay',
            options: mountOptions.split(','),
          };
        } else if (rootless)
          throw new RootlessLimitError(`${rootfs.reason} (too many for the overlay mount options)`);
        else overlayBy = 'caller';
      }
    }
    const tty = options.tty === true;
    const spec = buildSpec({
      ...(rootMount ? { rootMount } : {}),
      args: argv,
      env: containerEnv({ imageEnv: cc.Env ?? [], userEnv, hostname, tty }),
      cwd: options.workdir ?? (cc.WorkingDir || '/'),
      user,
      hostname,
      terminal: tty,
      ...(tty && process.stdout.isTTY
        ? { consoleSize: { height: process.stdout.rows, width: process.stdout.columns } }
        : {}),
      readOnly: options.readOnly === true,
      network,
      rootPath: 'rootfs',
      etc: {
        hosts: join(dir, 'hosts'),
        hostname: join(dir, 'hostname'),
        resolvConf: join(dir, 'resolv.conf'),
      },
      volumes,
      ...(rootless ? { rootless } : { cgroupsPath: `/pd/${id}` }),
      capabilities: caps,
      noNewPrivileges: nnp,
      extraMounts: tmpfs,
      ...(limits ? { limits } : {}),
    });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
    writeFileSync(join(dir, 'hosts'), await hostsFile(network));
    writeFileSync(join(dir, 'hostname'), `${hostname}\n`);
    writeFileSync(join(dir, 'resolv.conf'), await resolvConf(network));
    mkdirSync(join(dir, 'rootfs'));
    let mounted = false;
    if (rootfs.mode === 'overlay') {
      mkdirSync(join(dir, 'upper'));
      mkdirSync(join(dir, 'work'));
      if (layers.length === 0) mkdirSync(join(dir, 'empty'));
      if (overlayBy === 'host') {
        await mountOverlay(rootfs);
        mounted = true;
      }
    } else {
      await copyLayers(layers, rootfs.target, { hardlinks: rootfs.hardlinks });
    }
    writeFileSync(
      join(dir, 'pd-container.json'),
      JSON.stringify({
        id,
        mounted,
        rootfs: rootfs.mode,
        created: new Date().toISOString(),
        // What `pd ps` shows: the name given, the image as given, the command.
        ...(options.name !== undefined ? { name: options.name } : {}),
        ...(options.imageName !== undefined
          ? { image: options.imageName }
          : typeof input === 'string'
            ? { image: input }
            : {}),
        command: argv,
      }),
    );
    options.onLog?.({ kind: 'bundle', message: `bundle ${dir}`, dir, id });
    if (!options[HOLD_CLAIM]) releaseBundle(dir);
    return { id, dir, spec, rootfs, mounted, ...(overlayBy ? { overlayBy } : {}), layers, user };
  } catch (e) {
    await removeTree(dir);
    releaseBundle(dir);
    throw e;
  }
}

/** Rootless containers need unprivileged user namespaces; say so before the runtime fails obscurely. */
async function assertUserNamespaces(): Promise<void> {
  const read = async (f: string) => (await readFile(f, 'utf8').catch(() => undefined))?.trim();
  if ((await read('/proc/sys/user/max_user_namespaces')) === '0') {
    throw new RootlessUnavailableError('user.max_user_namespaces is 0');
  }
  if ((await read('/proc/sys/kernel/unprivileged_userns_clone')) === '0') {
    throw new RootlessUnavailableError('kernel.unprivileged_userns_clone is 0');
  }
}

/** The diffIDs a bundle uses (for pruning the layer store). */
export async function bundleLayers(dir: string): Promise<Digest[]> {
  try {
    return JSON.parse(await readFile(join(dir, 'layers.json'), 'utf8')) as Digest[];
  } catch {
    return [];
  }
}
