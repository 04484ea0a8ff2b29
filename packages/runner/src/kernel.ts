import { readFileSync } from 'node:fs';
import { release } from 'node:os';

// What the running kernel offers, read once.

let overlayKnown: boolean | undefined;

/** The kernel has overlayfs (built in or loaded). */
export function kernelHasOverlay(): boolean {
  if (overlayKnown === undefined) {
    try {
      overlayKnown = /\toverlay\n/.test(readFileSync('/proc/filesystems', 'utf8'));
    } catch {
      overlayKnown = false;
    }
  }
  return overlayKnown;
}

/** The kernel's release is `major.minor` or later. */
export function kernelAtLeast(major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release());
  return m !== null && (Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor));
}
