// @pd/tar loaded on first use: its code is most of what a command that only moves blobs (copy,
// pull into a layout, push, inspect) would otherwise compile at start-up, 12-16 ms on a 2-core
// machine. FileSlice and the file helpers come from @pd/tar/file-io, a small module of its own.
let loading: Promise<typeof import('@pd/tar')> | undefined;

/** @pd/tar, imported once. */
export function tar(): Promise<typeof import('@pd/tar')> {
  loading ??= import('@pd/tar');
  return loading;
}
