import { GroupNotFoundError, UserNotFoundError } from './errors.js';

// `--user` resolution with the rules docker follows (runc's libcontainer/user GetExecUser, plus
// the daemon putting the primary gid first in the supplementary list):
//   user          → its uid, primary gid and home from /etc/passwd; supplementary groups are the
//                   /etc/group entries listing the user name;
//   uid           → the passwd entry with that uid if any, else uid with gid 0;
//   user:group    → the group (by name or gid) replaces the primary gid, and is the only
//                   supplementary group.
// A name that is not found is an error; a number that is not found is used as it is.

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** A `--user` value resolved to ids (the result of {@link resolveUser}). */
export interface ResolvedUser {
  /** The user's uid from /etc/passwd, or the number given. */
  uid: number;
  /** The primary gid: the group given after `:`, else the user's from /etc/passwd, else 0. */
  gid: number;
  /** What the container process gets from setgroups(): the primary gid first, then the others. */
  additionalGids: number[];
  /** Home directory from /etc/passwd ('/' when unknown). The runtime sets HOME from it. */
  home: string;
  /** The user's name, when /etc/passwd has an entry for it. */
  name?: string;
}

const MAX_ID = 2 ** 31 - 1;

/** The entries of an /etc/passwd file; malformed lines are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const f = t.split(':');
    const uid = toId(f[2]);
    const gid = toId(f[3]);
    if (uid === undefined || gid === undefined || !f[0]) continue;
    out.push({ name: f[0], uid, gid, home: f[5] ?? '' });
  }
  return out;
}

/** The entries of an /etc/group file; malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const f = t.split(':');
    const gid = toId(f[2]);
    if (gid === undefined || !f[0]) continue;
    out.push({ name: f[0], gid, members: (f[3] ?? '').split(',').filter((m) => m !== '') });
  }
  return out;
}

function toId(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

/**
 * Resolve a docker `--user` value against the image's /etc/passwd and /etc/group contents
 * (undefined when the image has no such file). `''` means the image default: root.
 */
export function resolveUser(spec: string, passwd?: string, group?: string): ResolvedUser {
  const colon = spec.indexOf(':');
  const userArg = colon < 0 ? spec : spec.slice(0, colon);
  const groupArg = colon < 0 ? '' : spec.slice(colon + 1);
  const users = passwd === undefined ? [] : parsePasswd(passwd);
  const groups = group === undefined ? [] : parseGroup(group);

  let uid = 0;
  let gid = 0;
  let home = '/';
  let name: string | undefined;
  const entry =
    userArg === ''
      ? users.find((u) => u.uid === 0)
      : users.find((u) => u.name === userArg || String(u.uid) === userArg);
  if (entry) {
    ({ uid, gid, name } = entry);
    home = entry.home || '/';
  } else if (userArg !== '') {
    const n = toId(userArg);
    if (n === undefined) {
      throw new UserNotFoundError(
        userArg,
        passwd === undefined ? 'the image has no /etc/passwd' : 'no matching entries in passwd file',
      );
    }
    uid = n;
  }

  let supplementary: number[] = [];
  if (groupArg !== '') {
    const g = groups.find((x) => x.name === groupArg || String(x.gid) === groupArg);
    if (g) gid = g.gid;
    else {
      const n = toId(groupArg);
      if (n === undefined) {
        throw new GroupNotFoundError(
          groupArg,
          group === undefined ? 'the image has no /etc/group' : 'no matching entries in group file',
        );
      }
      gid = n;
    }
  } else if (name !== undefined) {
    supplementary = groups.filter((g) => g.members.includes(name!)).map((g) => g.gid);
  }
  const additionalGids = [gid, ...supplementary.filter((g, i, all) => g !== gid && all.indexOf(g) === i)];
  return { uid, gid, additionalGids, home, ...(name !== undefined ? { name } : {}) };
}
