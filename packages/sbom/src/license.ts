import parseExpression from 'spdx-expression-parse';

/**
 * The SPDX license expression a metadata value is, or undefined when it is not one. Free text
 * such as `MIT License` or `GPL v2` is not; SBOMs carry it as text instead. Operators are matched
 * in any case (`mit or bsd-3-clause` is not valid SPDX, but `MIT or BSD-3-Clause` is written by
 * real packages and means `MIT OR BSD-3-Clause`); identifiers must be spelled as SPDX lists them.
 * An expression naming `LicenseRef-`s is refused: the metadata does not say what they are.
 */
export function spdxExpression(value: string | undefined): string | undefined {
  const text = value?.trim().replace(/\s+/g, ' ');
  if (!text || /(LicenseRef|DocumentRef)-/i.test(text)) return undefined;
  const normalized = text.replace(/ (and|or|with) /gi, (m) => m.toUpperCase());
  try {
    parseExpression(normalized);
    return normalized;
  } catch {
    return undefined;
  }
}
