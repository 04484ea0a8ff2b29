import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { podmanIn } from './peers.js';

/** The two platforms of `pushPodmanList`, as podman names them in the list. */
export const PODMAN_LIST_PLATFORMS = { amd64: 'linux/amd64', arm64: 'linux/arm64/v8' } as const;

/** What `pushPodmanList` made. */
export interface PodmanList {
  /** The root filesystem tar each child was imported from: `/etc/arch` names the child's arch. */
  rootfs: Record<keyof typeof PODMAN_LIST_PLATFORMS, string>;
  /** The list pushed as an OCI image index. */
  oci: string;
  /** The same list pushed as a Docker manifest list (`--format v2s2`). */
  docker: string;
  /** An OCI layout podman wrote: its index.json points at the list (a nested index), tagged `list`. */
  layout: string;
}

/**
 * A two-platform list made by podman alone (`podman import --arch`, `podman manifest create/add/
 * push`), pushed to `registryHost` under `repo` as an OCI index (`REPO/oci:1`) and a Docker list
 * (`REPO/docker:1`), and written as an OCI layout. amd64 holds a static busybox (it runs here),
 * arm64 only `/etc/arch`. Everything podman keeps lives under `dir`.
 */
export async function pushPodmanList(
  dir: string,
  registryHost: string,
  repo = 'podman',
): Promise<PodmanList> {
  const podman = podmanIn(join(dir, 'podman'));
  const rootfs = {} as PodmanList['rootfs'];
  for (const arch of ['amd64', 'arm64'] as const) {
    const root = join(dir, `rootfs-${arch}`);
    mkdirSync(join(root, 'etc'), { recursive: true });
    writeFileSync(join(root, 'etc', 'arch'), `${arch}\n`);
    if (arch === 'amd64') {
      mkdirSync(join(root, 'bin'), { recursive: true });
      copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
    }
    rootfs[arch] = join(dir, `rootfs-${arch}.tar`);
    const members = arch === 'amd64' ? ['etc', 'bin'] : ['etc'];
    execFileSync('tar', ['-C', root, '--owner=0', '--group=0', '-cf', rootfs[arch], ...members]);
    const platform = arch === 'arm64' ? ['--arch', 'arm64', '--variant', 'v8'] : ['--arch', 'amd64'];
    await podman(['import', '-q', '--os', 'linux', ...platform, rootfs[arch], `localhost/pd-list:${arch}`]);
  }
  await podman(['manifest', 'create', 'localhost/pd-list:all']);
  for (const arch of ['amd64', 'arm64']) {
    await podman([
      'manifest',
      'add',
      'localhost/pd-list:all',
      `containers-storage:localhost/pd-list:${arch}`,
    ]);
  }
  const oci = `${registryHost}/${repo}/oci:1`;
  const docker = `${registryHost}/${repo}/docker:1`;
  const layout = join(dir, 'layout');
  const push = (dest: string, format: string[] = []) =>
    podman(['manifest', 'push', '--all', '--tls-verify=false', ...format, 'localhost/pd-list:all', dest]);
  await push(`docker://${oci}`);
  await push(`docker://${docker}`, ['--format', 'v2s2']);
  await push(`oci:${layout}:list`);
  return { rootfs, oci, docker, layout };
}
