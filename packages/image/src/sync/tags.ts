import { InvalidMutationError } from '../errors.js';

/** Which tags of a repository a sync takes; with none of the fields, every tag. */
export interface TagFilter {
  /** These tags exactly (a missing one is an error of its own, not a silent skip). */
  tags?: readonly string[];
  /** Tags this regular expression matches (anchor it: `^1\.` — it is tested as written). */
  tagRegex?: string;
  /** Tags that are versions inside this semver range (`>=1.2 <2`, `^3.19`); `v1.2.3` and `1.2` count. */
  semver?: string;
}

/**
 * The check `filter` makes of a tag; invalid expressions are refused before anything moves.
 * semver is loaded only for a range: every command that loads @pd/image would pay ~15 ms for it.
 */
export async function tagMatcher(filter: TagFilter): Promise<(tag: string) => boolean> {
  let regex: RegExp | undefined;
  if (filter.tagRegex !== undefined) {
    try {
      regex = new RegExp(filter.tagRegex);
    } catch (e) {
      throw new InvalidMutationError(`tag regex ${filter.tagRegex}: ${(e as Error).message}`);
    }
  }
  const range = filter.semver;
  const semver = range === undefined ? undefined : (await import('semver')).default;
  if (range !== undefined && semver!.validRange(range) === null) {
    throw new InvalidMutationError(`${range} is not a semver range`, 'e.g. ">=1.2.0 <2" or "^3.19"');
  }
  const exact = filter.tags ? new Set(filter.tags) : undefined;
  return (tag) => {
    if (exact && !exact.has(tag)) return false;
    if (regex && !regex.test(tag)) return false;
    if (range !== undefined && semver) {
      const version = semver.coerce(tag, { loose: true });
      // `coerce` finds a version anywhere in the tag; only a tag that is one (v-prefix allowed) counts.
      if (!version || !/^v?\d+(\.\d+){0,2}([-+].*)?$/.test(tag)) return false;
      const full = semver.valid(tag, { loose: true }) ?? version.version;
      if (!semver.satisfies(full, range, { includePrerelease: false })) return false;
    }
    return true;
  };
}
