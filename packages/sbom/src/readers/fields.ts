/**
 * RFC 822-style stanzas as dpkg (`Field: value`, continuation lines start with a space) and
 * Python's METADATA write them. A blank line ends a stanza. Field names are kept as written;
 * repeated fields (Python's `Classifier`) keep every value.
 */
export type Stanza = Map<string, string[]>;

/** Split `text` into stanzas; `firstOnly` stops at the first blank line (what follows in METADATA is the description). */
export function parseStanzas(text: string, options: { firstOnly?: boolean } = {}): Stanza[] {
  const out: Stanza[] = [];
  let current: Stanza | undefined;
  let last: { key: string; index: number } | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') {
      if (current) {
        out.push(current);
        if (options.firstOnly) return out;
      }
      current = undefined;
      last = undefined;
      continue;
    }
    if ((line.startsWith(' ') || line.startsWith('\t')) && current && last) {
      const values = current.get(last.key)!;
      values[last.index] = `${values[last.index]}\n${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    current ??= new Map();
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    const values = current.get(key) ?? [];
    values.push(value);
    current.set(key, values);
    last = { key, index: values.length - 1 };
  }
  if (current) out.push(current);
  return out;
}

/** The first value of `key` (case-insensitive, as dpkg and the core metadata spec read them). */
export function field(stanza: Stanza, key: string): string | undefined {
  const want = key.toLowerCase();
  for (const [k, v] of stanza) if (k.toLowerCase() === want) return v[0];
  return undefined;
}

/** Every value of `key` (case-insensitive). */
export function fields(stanza: Stanza, key: string): string[] {
  const want = key.toLowerCase();
  const out: string[] = [];
  for (const [k, v] of stanza) if (k.toLowerCase() === want) out.push(...v);
  return out;
}

/** The first line of a possibly multi-line value. */
export function firstLine(value: string | undefined): string | undefined {
  const line = value?.split('\n')[0]?.trim();
  return line ? line : undefined;
}
