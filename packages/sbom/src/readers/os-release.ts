import type { OsRelease } from '../model.js';

/** `etc/os-release` is most often a symlink to this one, which the scan follows. */
export const OS_RELEASE_PATHS = ['etc/os-release', 'usr/lib/os-release'];

/** `KEY=value` lines with shell quoting (os-release(5)); undefined without an `ID`. */
export function parseOsRelease(text: string): OsRelease | undefined {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let value = m[2]!.trim();
    if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1).replace(/\\(["$`\\])/g, '$1');
    values.set(m[1]!, value);
  }
  const id = values.get('ID');
  if (!id) return undefined;
  return {
    id,
    versionId: values.get('VERSION_ID') || undefined,
    prettyName: values.get('PRETTY_NAME') || undefined,
  };
}
