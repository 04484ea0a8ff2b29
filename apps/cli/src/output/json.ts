/** One JSON document on stdout, indented, ending with a newline. */
export function writeJson(out: { write(chunk: string): unknown }, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}
