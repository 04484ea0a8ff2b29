import { describe, expect, test } from 'vitest';
import { buildSpec, type SpecInput } from './spec.js';

const input: SpecInput = {
  args: ['sh'],
  env: ['PATH=/bin'],
  cwd: '/',
  user: { uid: 1000, gid: 1000, additionalGids: [1000, 50], home: '/home/app' },
  hostname: 'abc',
  cgroupsPath: '/pd/abc',
  terminal: false,
  readOnly: false,
  network: 'none',
  rootPath: 'rootfs',
  etc: { hosts: '/b/hosts', hostname: '/b/hostname', resolvConf: '/b/resolv.conf' },
  volumes: [{ source: '/data', target: '/in', readOnly: true }],
};

describe('config.json', () => {
  test("docker's defaults: namespaces, netns sysctls, the devices cgroup, binds", () => {
    const spec = buildSpec(input);
    expect(spec.linux?.namespaces?.map((n) => n.type)).toEqual(['mount', 'network', 'uts', 'pid', 'ipc']);
    expect(spec.linux?.sysctl).toHaveProperty('net.ipv4.ip_unprivileged_port_start', '0');
    expect(spec.linux?.resources?.devices?.[0]).toEqual({ allow: false, access: 'rwm' });
    expect(spec.process?.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 50] });
    expect(spec.mounts?.find((m) => m.destination === '/in')).toEqual({
      destination: '/in',
      type: 'bind',
      source: '/data',
      options: ['rbind', 'rprivate', 'ro'],
    });
    expect(spec.mounts?.find((m) => m.destination === '/etc/hosts')?.options).toEqual(['rbind', 'rprivate']);
  });
  test('host network: no netns, host /sys bound, no netns sysctls', () => {
    const spec = buildSpec({ ...input, network: 'host' });
    expect(spec.linux?.namespaces?.map((n) => n.type)).not.toContain('network');
    expect(spec.linux?.sysctl).toBeUndefined();
    expect(spec.mounts?.find((m) => m.destination === '/sys')?.source).toBe('/sys');
  });
  test('read-only root makes the /etc binds read-only too', () => {
    const spec = buildSpec({ ...input, readOnly: true });
    expect(spec.root).toEqual({ path: 'rootfs', readonly: true });
    expect(spec.mounts?.find((m) => m.destination === '/etc/resolv.conf')?.options).toContain('ro');
  });
  test('rootless: a user namespace mapping this uid to root, no cgroups', () => {
    const spec = buildSpec({
      ...input,
      user: { uid: 0, gid: 0, additionalGids: [0], home: '/' },
      rootless: { uid: 1234, gid: 99 },
    });
    expect(spec.linux?.namespaces?.map((n) => n.type)).toContain('user');
    expect(spec.linux?.uidMappings).toEqual([{ containerID: 0, hostID: 1234, size: 1 }]);
    expect(spec.linux?.resources).toBeUndefined();
    expect(spec.linux?.cgroupsPath).toBeUndefined();
    expect(spec.mounts?.find((m) => m.destination === '/dev/pts')?.options).not.toContain('gid=5');
    expect(spec.linux?.sysctl?.['net.ipv4.ping_group_range']).toBe('0 0');
  });

  test('rootless with subordinate ranges: the whole mapping, tty group and ping for every mapped group', () => {
    const ranges = [
      { containerID: 0, hostID: 1234, size: 1 },
      { containerID: 1, hostID: 100000, size: 65536 },
    ];
    const spec = buildSpec({
      ...input,
      user: { uid: 1000, gid: 1000, additionalGids: [], home: '/home/app' },
      rootless: { uid: 1234, gid: 99, uids: ranges, gids: ranges },
    });
    expect(spec.linux?.uidMappings).toEqual(ranges);
    expect(spec.linux?.gidMappings).toEqual(ranges);
    expect(spec.mounts?.find((m) => m.destination === '/dev/pts')?.options).toContain('gid=5');
    expect(spec.linux?.sysctl?.['net.ipv4.ping_group_range']).toBe('0 65536');
    expect(spec.linux?.cgroupsPath).toBeUndefined();
  });
});
