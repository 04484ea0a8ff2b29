import { readFileSync } from 'node:fs';

/**
 * The process in charge of a container (the `pd run` that prepared and runs it). The start
 * time (clock ticks after boot, /proc/<pid>/stat field 22) tells a live owner from an unrelated
 * process that got the same pid after the owner died.
 */
export interface Owner {
  pid: number;
  start?: number;
}

/** Field 22 of /proc/<pid>/stat, or undefined (no such process, or no /proc). */
function startTime(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces or ")": split after the last.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const value = Number(fields[22 - 3]);
  return Number.isFinite(value) ? value : undefined;
}

/** The owner's record in a bundle directory. */
export const OWNER_FILE = 'pd-owner.json';

let self: Owner | undefined;

/** This process, as an owner to record. */
export function currentOwner(): Owner {
  if (!self) {
    const start = startTime(process.pid);
    self = { pid: process.pid, ...(start !== undefined ? { start } : {}) };
  }
  return self;
}

/** Whether the recorded owner still runs (the same process, not a later one with its pid). */
export function ownerAlive(owner: Owner): boolean {
  if (owner.start !== undefined) {
    const now = startTime(owner.pid);
    if (now !== undefined) return now === owner.start;
    // No /proc (or the process is gone): fall back to the signal probe below.
  }
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Bundles this process is using right now (preparing, or running through `run`). Their owner is
 * this process, alive by definition, so the claim is what tells a bundle in use from one this
 * process prepared and handed on (prepareBundle) or finished with.
 */
const claimed = new Set<string>();

export function claimBundle(dir: string): void {
  claimed.add(dir);
}

export function releaseBundle(dir: string): void {
  claimed.delete(dir);
}

/** Whether a bundle's owner is this very process (same pid and start time). */
export function ownedHere(owner: Owner): boolean {
  const me = currentOwner();
  return owner.pid === me.pid && owner.start === me.start;
}

export function claimedHere(dir: string): boolean {
  return claimed.has(dir);
}
