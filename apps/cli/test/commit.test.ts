import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  docker,
  dockerMissing,
  type Fixtures,
  fixtureImages,
  type RunningRegistry,
  registryMissing,
  runcMissing,
  skopeo,
  skopeoMissing,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMIT_SCRIPT, dockerCommitted } from './changes.js';
import { isolatedEnv, pd } from './helpers.js';
import { describeEntries, dockerFilesystem } from './tree.js';

const missing = registryMissing() ?? dockerMissing() ?? runcMissing() ?? skopeoMissing();

/**
 * pd commit of a container against docker commit of the same changes on the same image: the two
 * images hold the same filesystem, entry for entry (times aside), and pd's layer is the changes only.
 */
describe.skipIf(missing)('pd commit, compared with docker commit', () => {
  let registry: RunningRegistry;
  let fx: Fixtures;
  const iso = isolatedEnv();
  const run = (args: string[]) => pd(args, { env: iso.env, cwd: iso.dir, timeout: 120_000 });

  beforeAll(async () => {
    registry = await startRegistry();
    fx = await fixtureImages(registry);
  }, 600_000);
  afterAll(async () => {
    await docker(['rm', '-f', 'pd-commit-test']).catch(() => undefined);
    await docker(['rmi', '-f', 'pd-commit-test:docker']).catch(() => undefined);
    await run(['rm', '-f', 'committed']);
    await registry?.stop();
    iso.cleanup();
  });

  it('gives the filesystem docker commit gives, as one new layer over the image', async () => {
    let r = await run(['run', '--name', 'committed', fx.layered.ref, 'sh', '-c', COMMIT_SCRIPT]);
    expect(r.code, r.stderr).toBe(0);
    const to = `${registry.host}/committed/pd:1`;
    r = await run(['commit', 'committed', '-t', to, '-m', 'the changes', '--env', 'COMMITTED=1']);
    expect(r.code, r.stderr).toBe(0);

    const committed = await dockerCommitted(fx.layered.local, COMMIT_SCRIPT, 'pd-commit-test');

    const pdTree = join(iso.dir, 'pd-tree');
    r = await run(['export', to, pdTree]);
    expect(r.code, r.stderr).toBe(0);
    expect(describeEntries(pdTree)).toEqual(await dockerFilesystem(committed, join(iso.dir, 'docker-tree')));

    // One layer more than the image, holding only the changes (whiteouts, an opaque /data).
    const base = JSON.parse(
      (await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${fx.layered.ref}`])).stdout,
    ) as { layers: { digest: string }[] };
    const made = JSON.parse(
      (await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${to}`])).stdout,
    ) as {
      layers: { digest: string }[];
    };
    expect(made.layers.slice(0, -1)).toEqual(base.layers);
    const layer = join(iso.dir, 'top.tar');
    r = await run(['blob', `${registry.host}/committed/pd@${made.layers.at(-1)!.digest}`, '-o', layer]);
    expect(r.code, r.stderr).toBe(0);
    const names = execFileSync('tar', ['-tzf', layer], { encoding: 'utf8' }).trim().split('\n').sort();
    expect(names).toEqual(
      expect.arrayContaining([
        'data/.wh..wh..opq',
        'data/again',
        'etc/.wh.app.conf.link',
        'etc/new',
        'opt/.wh.run.sh',
      ]),
    );
    // The runtime's mount points (/proc, /dev, /etc/hosts...) are not changes.
    expect(names.filter((n) => /^(proc|sys|dev)\/?$|^etc\/(hosts|hostname|resolv\.conf)$/.test(n))).toEqual(
      [],
    );
    expect(names).not.toContain('hello.txt');

    const config = JSON.parse(
      (await skopeo(['inspect', '--config', '--tls-verify=false', `docker://${to}`])).stdout,
    ) as { config: { Env: string[]; Cmd: string[] }; history: { created_by?: string; comment?: string }[] };
    expect(config.config.Env).toContain('COMMITTED=1');
    expect(config.config.Cmd).toEqual(['/opt/run.sh']);
    expect(config.history.at(-1)).toMatchObject({ created_by: 'pd commit', comment: 'the changes' });
  });

  it('the same changes under SOURCE_DATE_EPOCH give the same digest', async () => {
    const env = { ...iso.env, SOURCE_DATE_EPOCH: '1700000000' };
    const digests: string[] = [];
    for (const name of ['again-1', 'again-2']) {
      let r = await pd(['run', '--name', name, fx.layered.ref, 'sh', '-c', COMMIT_SCRIPT], {
        env,
        timeout: 120_000,
      });
      expect(r.code, r.stderr).toBe(0);
      r = await pd(['commit', name, '-o', join(iso.dir, `${name}.tar`), '--format', 'oci', '--json'], {
        env,
      });
      expect(r.code, r.stderr).toBe(0);
      digests.push((JSON.parse(r.stdout) as { digest: string }).digest);
      await pd(['rm', name], { env });
    }
    expect(digests[0]).toBe(digests[1]);
  });

  it('an output that cannot be written: one line naming it', async () => {
    const r = await run(['commit', 'committed', '-o', join(iso.dir, 'out', 'nodir', 'c.tar')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^pd: cannot (write|create|mkdir|open) .*nodir/);
  });

  it('refuses a container it does not know, in one line', async () => {
    const r = await run(['commit', 'no-such-container', '-o', join(iso.dir, 'x.tar')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^pd: .*no-such-container/);
  });
});
