import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestOf, MediaType } from '@pd/oci-types';
import {
  docker,
  dockerMissing,
  type RunningRegistry,
  registryMissing,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { AuthError, CredentialHelperError, RegistryClient } from '../src/index.js';
import { pushWithDocker, sourceOf, tempDir, writeExecutable } from './helpers.js';

/**
 * A credential helper speaking docker's protocol (get/store/erase on stdin/stdout), keeping its
 * secrets as files in $PDTEST_STORE and logging each call (action and server URL, never secrets).
 */
const HELPER = `#!/usr/bin/env node
const fs = require('node:fs');
const path = require('node:path');
const store = process.env.PDTEST_STORE;
const action = process.argv[2];
let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', () => {
  const file = (url) => path.join(store, Buffer.from(url.trim()).toString('hex') + '.json');
  const log = (url) => fs.appendFileSync(path.join(store, 'calls.log'), action + ' ' + url.trim() + '\\n');
  if (action === 'store') {
    const c = JSON.parse(input);
    log(c.ServerURL);
    fs.writeFileSync(file(c.ServerURL), JSON.stringify(c));
    return;
  }
  log(input);
  if (!fs.existsSync(file(input))) {
    process.stdout.write('credentials not found in native keychain\\n');
    process.exit(1);
  }
  if (action === 'get') process.stdout.write(fs.readFileSync(file(input)));
  else if (action === 'erase') fs.unlinkSync(file(input));
});
`;

describe.skipIf(registryMissing())('credentials from docker config and helpers', () => {
  let registry: RunningRegistry;
  const password = 'Cred-S3cret-pw-77';
  const basic = Buffer.from(`dave:${password}`).toString('base64');
  const helperHome = tempDir('pd-reg-helper-');
  const savedPath = process.env.PATH;
  const savedDockerConfig = process.env.DOCKER_CONFIG;
  let ref: string;

  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: { dave: password } });
    ref = `${registry.host}/pd/cred:v1`;
    const seed = new RegistryClient({
      dockerConfig: false,
      credentials: { [registry.host]: { username: 'dave', password } },
    });
    const config = Buffer.from('{}');
    await seed.uploadBlob(`${registry.host}/pd/cred`, sourceOf(config), {});
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: {
        mediaType: MediaType.OciConfig,
        digest: digestOf(config),
        size: 2,
      },
      layers: [],
    });
    await seed.putManifest(ref, Buffer.from(manifest), MediaType.OciManifest);
    await seed.close();
    writeExecutable(join(helperHome.dir, 'docker-credential-pdtest'), HELPER);
    process.env.PATH = `${helperHome.dir}:${savedPath}`;
    process.env.PDTEST_STORE = helperHome.dir;
  });
  afterEach(() => {
    if (savedDockerConfig === undefined) delete process.env.DOCKER_CONFIG;
    else process.env.DOCKER_CONFIG = savedDockerConfig;
  });
  afterAll(async () => {
    process.env.PATH = savedPath;
    helperHome.cleanup();
    await registry?.stop();
  });

  const calls = () => {
    const f = join(helperHome.dir, 'calls.log');
    return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n') : [];
  };

  test('auths entries are found under docker key spellings (scheme, /v1/ path)', async () => {
    for (const key of [registry.host, `https://${registry.host}/v1/`, `http://${registry.host}`]) {
      const { dir, cleanup } = tempDir();
      try {
        writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [key]: { auth: basic } } }));
        const client = new RegistryClient({ dockerConfig: dir });
        expect((await client.getManifest(ref)).mediaType).toBe(MediaType.OciManifest);
        await client.close();
      } finally {
        cleanup();
      }
    }
  });

  test('DOCKER_CONFIG locates config.json when no directory is given', async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(
        join(dir, 'config.json'),
        JSON.stringify({ auths: { [registry.host]: { auth: basic } } }),
      );
      process.env.DOCKER_CONFIG = dir;
      const client = new RegistryClient();
      expect(await client.listTags(`${registry.host}/pd/cred`)).toEqual(['v1']);
      await client.close();
    } finally {
      cleanup();
    }
  });

  test('credHelpers runs docker-credential-<name> get with the registry as server URL', async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(
        join(helperHome.dir, `${Buffer.from(registry.host).toString('hex')}.json`),
        JSON.stringify({ ServerURL: registry.host, Username: 'dave', Secret: password }),
      );
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ credHelpers: { [registry.host]: 'pdtest' } }));
      const before = calls().length;
      const client = new RegistryClient({ dockerConfig: dir });
      expect(await client.listTags(`${registry.host}/pd/cred`)).toEqual(['v1']);
      await client.getManifest(ref);
      // Asked once per client, then cached.
      expect(calls().slice(before)).toEqual([`get ${registry.host}`]);
      await client.close();
    } finally {
      cleanup();
    }
  });

  test('a configured helper that is not installed is a clear error', async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ credsStore: 'pd-no-such-helper' }));
      const client = new RegistryClient({ dockerConfig: dir });
      const err = await client.getManifest(ref).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CredentialHelperError);
      expect((err as Error).message).toBe(
        'credential helper docker-credential-pd-no-such-helper is not installed',
      );
      await client.close();
    } finally {
      cleanup();
    }
  });

  test('login writes config.json atomically with mode 0600, keeping other fields; logout removes only its entry', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'config.json');
      const other = {
        auths: { 'ghcr.io': { auth: 'b3RoZXI6eA==' } },
        psFormat: 'table {{.ID}}',
        credHelpers: { 'gcr.io': 'gcloud' },
      };
      writeFileSync(path, JSON.stringify(other), { mode: 0o644 });
      const client = new RegistryClient({ dockerConfig: dir });
      const r = await client.login(`https://${registry.host}/`, 'dave', password);
      expect(r).toEqual({ registry: registry.host, storedIn: path, identityToken: false });
      expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
        ...other,
        auths: { ...other.auths, [registry.host]: { auth: basic } },
      });
      expect(statSync(path).mode & 0o777).toBe(0o600);

      const fresh = new RegistryClient({ dockerConfig: dir });
      expect(await fresh.listTags(`${registry.host}/pd/cred`)).toEqual(['v1']);

      expect(await client.logout(registry.host)).toBe(true);
      expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(other);
      expect(await client.logout(registry.host)).toBe(false);
      const after = new RegistryClient({ dockerConfig: dir });
      await expect(after.listTags(`${registry.host}/pd/cred`)).rejects.toBeInstanceOf(AuthError);
      await Promise.all([client.close(), fresh.close(), after.close()]);
    } finally {
      cleanup();
    }
  });

  test('login verifies first: a wrong password leaves config.json untouched', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'config.json');
      writeFileSync(path, '{"auths":{}}');
      const client = new RegistryClient({ dockerConfig: dir });
      const err = await client.login(registry.host, 'dave', 'wrong-password-123').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthError);
      expect((err as AuthError).message).toBe(`login: ${registry.host} rejected the credentials of "dave"`);
      expect(readFileSync(path, 'utf8')).toBe('{"auths":{}}');
      await client.close();
    } finally {
      cleanup();
    }
  });

  test('with credsStore, login stores through the helper and logout erases there', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'config.json');
      writeFileSync(path, JSON.stringify({ credsStore: 'pdtest' }));
      const client = new RegistryClient({ dockerConfig: dir });
      const before = calls().length;
      expect(await client.login(registry.host, 'dave', password)).toMatchObject({
        storedIn: 'docker-credential-pdtest',
      });
      const config = readFileSync(path, 'utf8');
      expect(JSON.parse(config)).toEqual({ credsStore: 'pdtest', auths: { [registry.host]: {} } });
      expect(config).not.toContain(basic);
      const fresh = new RegistryClient({ dockerConfig: dir });
      expect(await fresh.listTags(`${registry.host}/pd/cred`)).toEqual(['v1']);
      expect(await client.logout(registry.host)).toBe(true);
      expect(calls().slice(before)).toEqual([
        `store ${registry.host}`,
        `get ${registry.host}`,
        `erase ${registry.host}`,
      ]);
      expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ credsStore: 'pdtest', auths: {} });
      await Promise.all([client.close(), fresh.close()]);
    } finally {
      cleanup();
    }
  });
});

describe.skipIf(registryMissing() ?? dockerMissing())('config.json interoperates with docker', () => {
  let registry: RunningRegistry;
  const password = 'Docker-Interop-pw';
  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: { erin: password } });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  test('pd reads what docker login wrote, docker pulls with what pd login wrote', async () => {
    const image = await pushWithDocker(registry.host, 'pd/interop', 'v1', {
      login: { user: 'erin', password },
    });
    const fromDocker = tempDir();
    const fromPd = tempDir();
    try {
      await docker(['--config', fromDocker.dir, 'login', '-u', 'erin', '--password-stdin', registry.host], {
        input: password,
      });
      const a = new RegistryClient({ dockerConfig: fromDocker.dir });
      expect((await a.getManifest(image.ref)).digest).toBe(image.digest);
      await a.close();

      const b = new RegistryClient({ dockerConfig: fromPd.dir });
      await b.login(registry.host, 'erin', password);
      await b.close();
      const { stdout } = await docker(['--config', fromPd.dir, 'pull', image.ref]);
      expect(stdout).toContain(image.digest);
      await docker(['rmi', image.ref]).catch(() => undefined);
    } finally {
      fromDocker.cleanup();
      fromPd.cleanup();
    }
  });
});
