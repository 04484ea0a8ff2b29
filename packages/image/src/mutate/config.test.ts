import type { ImageConfig } from '@pd/oci-types';
import { describe, expect, test } from 'vitest';
import { InvalidMutationError } from '../errors.js';
import { applyConfigEdits, setEnvValue, unsetEnvValue } from './config.js';

const base = (): ImageConfig => ({
  architecture: 'amd64',
  os: 'linux',
  config: {
    Env: ['PATH=/usr/bin:/bin', 'A=1', 'B=2', 'C=3'],
    Cmd: ['sh'],
    Labels: { keep: 'yes', drop: 'x' },
  },
  rootfs: { type: 'layers', diff_ids: [] },
});

describe('environment edits keep the order', () => {
  test('set replaces in place, appends new keys, unset removes', () => {
    expect(setEnvValue(['A=1', 'B=2', 'C=3'], 'B', 'two')).toEqual(['A=1', 'B=two', 'C=3']);
    expect(setEnvValue(['A=1'], 'Z', 'a=b=c')).toEqual(['A=1', 'Z=a=b=c']);
    expect(setEnvValue(['A=1', 'A=dup', 'B=2'], 'A', '9')).toEqual(['A=9', 'B=2']);
    expect(unsetEnvValue(['A=1', 'B=2', 'AB=3'], 'A')).toEqual(['B=2', 'AB=3']);
    expect(() => setEnvValue([], 'A=B', 'x')).toThrow(InvalidMutationError);
    expect(() => setEnvValue([], '', 'x')).toThrow(InvalidMutationError);
  });

  test('a map edit sets and unsets in one go; a list is NAME=value entries', () => {
    const c = base();
    applyConfigEdits(c, { env: { A: 'one', D: '4', C: null }, unsetEnv: ['B'] });
    expect(c.config?.Env).toEqual(['PATH=/usr/bin:/bin', 'A=one', 'D=4']);
    applyConfigEdits(c, { env: ['PATH=/opt/bin:/usr/bin', 'E=x=y'] });
    expect(c.config?.Env).toEqual(['PATH=/opt/bin:/usr/bin', 'A=one', 'D=4', 'E=x=y']);
    expect(() => applyConfigEdits(c, { env: ['novalue'] })).toThrow(InvalidMutationError);
  });
});

describe('other fields', () => {
  test('cmd, entrypoint, workdir, user, stop signal: set, and null clears', () => {
    const c = base();
    applyConfigEdits(c, {
      cmd: ['run', '--fast'],
      entrypoint: ['/init'],
      workingDir: '/app',
      user: '1000:1000',
      stopSignal: 'SIGTERM',
    });
    expect(c.config).toMatchObject({
      Cmd: ['run', '--fast'],
      Entrypoint: ['/init'],
      WorkingDir: '/app',
      User: '1000:1000',
      StopSignal: 'SIGTERM',
    });
    applyConfigEdits(c, { cmd: null, user: null });
    expect(c.config?.Cmd).toBeUndefined();
    expect(c.config?.User).toBeUndefined();
    expect(c.config?.Entrypoint).toEqual(['/init']);
  });

  test('labels merge; ports and volumes are sets with normalized keys', () => {
    const c = base();
    applyConfigEdits(c, {
      labels: { drop: null, add: 'v' },
      exposedPorts: ['8080', '53/udp'],
      volumes: ['/data'],
    });
    expect(c.config?.Labels).toEqual({ keep: 'yes', add: 'v' });
    expect(c.config?.ExposedPorts).toEqual({ '8080/tcp': {}, '53/udp': {} });
    expect(c.config?.Volumes).toEqual({ '/data': {} });
    applyConfigEdits(c, { exposedPorts: { '8080': false }, volumes: { '/data': false, '/cache': true } });
    expect(c.config?.ExposedPorts).toEqual({ '53/udp': {} });
    expect(c.config?.Volumes).toEqual({ '/cache': {} });
    expect(() => applyConfigEdits(c, { exposedPorts: ['70000'] })).toThrow(/invalid port/);
    expect(() => applyConfigEdits(c, { volumes: ['relative'] })).toThrow(/invalid volume/);
  });

  test('history: an entry with empty_layer records a config edit', () => {
    const c = base();
    c.history = [{ created_by: 'base' }];
    applyConfigEdits(c, { env: { X: '1' }, history: 'ENV X=1', created: 0 });
    expect(c.history).toEqual([
      { created_by: 'base' },
      { created: '1970-01-01T00:00:00Z', created_by: 'ENV X=1', empty_layer: true },
    ]);
    expect(c.created).toBe('1970-01-01T00:00:00Z');
  });
});
