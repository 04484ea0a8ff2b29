import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import {
  authEntries,
  configKey,
  DOCKER_HUB_CONFIG_KEY,
  helperFor,
  keyHostname,
  keyMatches,
  readDockerConfig,
  writeDockerConfig,
} from './docker-config.js';

describe('docker config keys', () => {
  test('hostnames from the spellings docker has used', () => {
    expect(keyHostname('https://index.docker.io/v1/')).toBe('index.docker.io');
    expect(keyHostname('http://LOCALHOST:5000')).toBe('localhost:5000');
    expect(keyHostname('ghcr.io')).toBe('ghcr.io');
    expect(keyHostname('https://[::1]:5000/v2/')).toBe('[::1]:5000');
  });

  test('Docker Hub answers to all its names; others match exactly', () => {
    for (const k of [DOCKER_HUB_CONFIG_KEY, 'docker.io', 'index.docker.io', 'https://registry-1.docker.io']) {
      expect(keyMatches(k, 'docker.io')).toBe(true);
    }
    expect(keyMatches('ghcr.io', 'docker.io')).toBe(false);
    expect(keyMatches('https://ghcr.io/', 'ghcr.io')).toBe(true);
    expect(keyMatches('ghcr.io:443', 'ghcr.io')).toBe(false);
    expect(configKey('docker.io')).toBe('https://index.docker.io/v1/');
    expect(configKey('localhost:5000')).toBe('localhost:5000');
  });

  test('credHelpers wins over credsStore; the exact auths key first', () => {
    const config = {
      credsStore: 'desktop',
      credHelpers: { 'gcr.io': 'gcloud' },
      auths: {
        'https://index.docker.io/v1/': { auth: 'YQ==' },
        'index.docker.io': { auth: 'Yg==' },
        'x.io': {},
      },
    };
    expect(helperFor(config, 'gcr.io')).toBe('gcloud');
    expect(helperFor(config, 'docker.io')).toBe('desktop');
    expect(helperFor({}, 'docker.io')).toBeUndefined();
    const reversed = {
      auths: { 'index.docker.io': { auth: 'Yg==' }, 'https://index.docker.io/v1/': { auth: 'YQ==' } },
    };
    expect(authEntries(reversed, 'docker.io').map(([k]) => k)).toEqual([
      'https://index.docker.io/v1/',
      'index.docker.io',
    ]);
  });
});

describe('config.json files', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('missing or empty is an empty config; malformed names the file', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pd-cfg-'));
    const path = join(dir, 'config.json');
    expect(await readDockerConfig(path)).toEqual({});
    writeFileSync(path, '  ');
    expect(await readDockerConfig(path)).toEqual({});
    writeFileSync(path, '{"auths":');
    await expect(readDockerConfig(path)).rejects.toThrow(`cannot parse docker config ${path}`);
  });

  test('written with mode 0600 in a directory created 0700, no temp file left', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pd-cfg-'));
    const path = join(dir, 'sub', 'config.json');
    await writeDockerConfig(path, { auths: { 'a.io': { auth: 'eDp5' } }, other: [1] });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'sub')).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
      auths: { 'a.io': { auth: 'eDp5' } },
      other: [1],
    });
    expect(readdirSync(join(dir, 'sub'))).toEqual(['config.json']);
  });
});
