import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
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
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_STEP } from './changes.js';
import { isolatedEnv, pd } from './helpers.js';
import { describeEntries, dockerFilesystem } from './tree.js';

const missing = registryMissing() ?? dockerMissing() ?? runcMissing();

/**
 * pd.yaml `run:` steps against a Dockerfile's RUN on the same base: the same filesystem, entry
 * for entry; the second build takes the step from the cache; an input named by the step
 * invalidates it.
 */
describe.skipIf(missing)('pd build with run: steps, compared with docker build', () => {
  let registry: RunningRegistry;
  let fx: Fixtures;
  const iso = isolatedEnv();
  const env = { ...iso.env, SOURCE_DATE_EPOCH: '1700000000' };
  const build = (dir: string, to: string) => pd(['build', dir, '-t', to], { env, timeout: 300_000 });

  beforeAll(async () => {
    registry = await startRegistry();
    fx = await fixtureImages(registry);
  }, 600_000);
  afterAll(async () => {
    await docker(['rmi', '-f', 'pd-run-step:docker']).catch(() => undefined);
    await registry?.stop();
    iso.cleanup();
  });

  it('gives the filesystem a Dockerfile RUN gives; a second build takes the step from the cache', async () => {
    const dir = join(iso.dir, 'app');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'pd.yaml'),
      [
        `base: ${fx.layered.ref}`,
        'run:',
        `  - ${JSON.stringify(RUN_STEP)}`,
        'config:',
        '  user: builder',
        '',
      ].join('\n'),
    );
    const to = `${registry.host}/steps/app:1`;
    const first = await build(dir, to);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/run 1\/1: echo built/);

    await docker(['build', '--network', 'none', '-t', 'pd-run-step:docker', '-'], {
      input: `FROM ${fx.layered.local}\nRUN ${RUN_STEP}\nUSER builder\n`,
    });
    const pdTree = join(iso.dir, 'pd-tree');
    const r = await pd(['export', to, pdTree], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(describeEntries(pdTree)).toEqual(
      await dockerFilesystem('pd-run-step:docker', join(iso.dir, 'docker-tree')),
    );

    // The image runs as the user the step created, under docker too.
    const whoami = await docker(['run', '--rm', '--network', 'none', 'pd-run-step:docker', 'id', '-u']);
    expect(whoami.stdout).toBe('2000\n');

    // Same inputs: the step is not run again and the digest is the same.
    const again = await build(dir, `${registry.host}/steps/app:2`);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/run 1\/1 \(cached\)/);
    const digest = (ref: string) =>
      skopeo(['inspect', '--format', '{{.Digest}}', '--tls-verify=false', `docker://${ref}`]).then(
        (x) => x.stdout,
      );
    expect(await digest(`${registry.host}/steps/app:2`)).toBe(await digest(to));
    const history = JSON.parse(
      (await skopeo(['inspect', '--config', '--tls-verify=false', `docker://${to}`])).stdout,
    ) as { history: { created_by: string }[] };
    expect(history.history.at(-1)!.created_by).toBe(`/bin/sh -c ${RUN_STEP}`);
  });

  it('an input the step names is part of its cache key; a failing step stops the build', async () => {
    const dir = join(iso.dir, 'inputs');
    mkdirSync(dir);
    writeFileSync(join(dir, 'version'), '1\n');
    writeFileSync(
      join(dir, 'pd.yaml'),
      [
        `base: ${fx.layered.ref}`,
        'layers: [{ src: ./version, dest: /version }]',
        'run:',
        '  - { run: ["sh", "-c", "cp /version /copied && echo $WHO > /who"], env: { WHO: step }, inputs: [./version] }',
        '',
      ].join('\n'),
    );
    let r = await build(dir, `${registry.host}/steps/inputs:1`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/cached/);
    writeFileSync(join(dir, 'version'), '2\n');
    r = await build(dir, `${registry.host}/steps/inputs:2`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/cached/);
    const out = join(iso.dir, 'inputs-tree');
    r = await pd(['export', `${registry.host}/steps/inputs:2`, out], { env });
    expect(execFileSync('cat', [join(out, 'copied'), join(out, 'who')], { encoding: 'utf8' })).toBe(
      '2\nstep\n',
    );

    writeFileSync(
      join(dir, 'pd.yaml'),
      [`base: ${fx.layered.ref}`, 'run: ["echo failing >&2; exit 3"]', ''].join('\n'),
    );
    r = await build(dir, `${registry.host}/steps/fails:1`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('failing');
    expect(r.stderr).toMatch(/pd: run step "\/bin\/sh -c echo failing >&2; exit 3" failed with exit code 3/);
  });

  it('--sbom attaches an SBOM of what was built as a referrer of the pushed image', async () => {
    const dir = join(iso.dir, 'sbom');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'pd.yaml'),
      [`base: ${fx.layered.ref}`, 'files: [{ path: /etc/x, content: "x" }]', ''].join('\n'),
    );
    const to = `${registry.host}/steps/sbom:1`;
    let r = await pd(['build', dir, '-t', to, '--sbom', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const digest = (JSON.parse(r.stdout) as { digest: string }).digest;
    r = await pd(['referrers', `${registry.host}/steps/sbom@${digest}`, '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const listed = JSON.parse(r.stdout) as { manifests: { digest: string; artifactType: string }[] };
    expect(listed.manifests.map((m) => m.artifactType)).toEqual(['application/spdx+json']);
    const out = join(iso.dir, 'sbom-pulled');
    r = await pd(
      ['artifact', 'pull', `${registry.host}/steps/sbom@${listed.manifests[0]!.digest}`, '-o', out],
      { env },
    );
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(execFileSync('cat', [join(out, 'sbom.spdx.json')], { encoding: 'utf8' })) as {
      spdxVersion: string;
      documentNamespace: string;
    };
    expect(doc.spdxVersion).toBe('SPDX-2.3');
    expect(doc.documentNamespace).toContain(digest.slice('sha256:'.length));
    const refused = await pd(['build', dir, '-o', join(iso.dir, 'x.tar'), '--sbom'], { env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--sbom attaches to a pushed image/);
  });
});
