import { describe, expect, test } from 'vitest';
import { GroupNotFoundError, UserNotFoundError } from './errors.js';
import { parseGroup, parsePasswd, resolveUser } from './user.js';

const passwd =
  'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n# comment\nbroken line\n42:x:42:42::/:/bin/sh\n';
const group = 'root:x:0:\nstaff:x:50:app,other\napp:x:1000:\nwheel:x:10:app\n';

describe('resolveUser (docker / libcontainer rules)', () => {
  test('a name: uid, primary gid, home, supplementary groups from /etc/group, primary first', () => {
    expect(resolveUser('app', passwd, group)).toEqual({
      uid: 1000,
      gid: 1000,
      additionalGids: [1000, 50, 10],
      home: '/home/app',
      name: 'app',
    });
  });
  test('a uid found in passwd is that user; one not found runs with gid 0', () => {
    expect(resolveUser('1000', passwd, group)).toMatchObject({ uid: 1000, gid: 1000, name: 'app' });
    expect(resolveUser('4242', passwd, group)).toEqual({ uid: 4242, gid: 0, additionalGids: [0], home: '/' });
  });
  test('an explicit group replaces the primary group and is the only one', () => {
    expect(resolveUser('app:staff', passwd, group)).toMatchObject({
      uid: 1000,
      gid: 50,
      additionalGids: [50],
    });
    expect(resolveUser('1000:4000', passwd, group)).toMatchObject({
      uid: 1000,
      gid: 4000,
      additionalGids: [4000],
    });
  });
  test('a name that looks like a number is matched as a name first', () => {
    expect(resolveUser('42', passwd, group)).toMatchObject({ uid: 42, name: '42' });
  });
  test('empty means root (the image default)', () => {
    expect(resolveUser('', passwd, group)).toMatchObject({
      uid: 0,
      gid: 0,
      additionalGids: [0],
      home: '/root',
    });
    expect(resolveUser('', undefined, undefined)).toEqual({ uid: 0, gid: 0, additionalGids: [0], home: '/' });
  });
  test('unknown names are errors, also without the files', () => {
    expect(() => resolveUser('nobody', passwd, group)).toThrow(UserNotFoundError);
    expect(() => resolveUser('nobody', undefined, undefined)).toThrow(/no \/etc\/passwd/);
    expect(() => resolveUser('app:nogroup', passwd, group)).toThrow(GroupNotFoundError);
    expect(() => resolveUser('99999999999', passwd, group)).toThrow(UserNotFoundError);
  });
  test('parsers skip malformed lines', () => {
    expect(parsePasswd(passwd).map((u) => u.name)).toEqual(['root', 'app', '42']);
    expect(parseGroup(group).find((g) => g.name === 'staff')?.members).toEqual(['app', 'other']);
  });
});
