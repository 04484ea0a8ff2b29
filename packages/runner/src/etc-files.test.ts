import { describe, expect, test } from 'vitest';
import { isolatedResolvConf } from './etc-files.js';

describe('resolv.conf for an isolated network', () => {
  test('loopback nameservers are dropped, others and options kept', () => {
    expect(
      isolatedResolvConf('search lan\nnameserver 127.0.0.1\nnameserver 10.0.0.1\noptions ndots:2\n'),
    ).toBe('search lan\nnameserver 10.0.0.1\noptions ndots:2\n');
  });
  test("docker's public fallback when nothing remains", () => {
    expect(isolatedResolvConf('nameserver 127.0.0.53\nnameserver ::1\n')).toBe(
      'nameserver 8.8.8.8\nnameserver 8.8.4.4\n',
    );
    expect(isolatedResolvConf('')).toBe('nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  });
});
