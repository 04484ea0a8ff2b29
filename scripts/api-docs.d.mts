/** Types of scripts/api-docs.mjs, for the test that runs its check. */
export interface ApiExport {
  name: string;
  kind: string;
  doc: string;
}
export const ROOT: string;
export function libraryDirs(): string[];
export function exportsOf(dir: string): ApiExport[];
export function summary(doc: string): string;
export function renderApi(entries: ApiExport[]): string;
export function withApi(readme: string, entries: ApiExport[]): string;
export function checkPackage(dir: string): { undocumented: string[]; stale: boolean };
