/**
 * Run `fn` over `items` with at most `limit` in flight; results in input order. The first
 * failure stops starting new work and rejects: at once (work in flight is left to finish), or,
 * with `settle`, once the work in flight has ended too (so the caller may clean up after it);
 * `onError` is told of the first failure at once (to abort the rest).
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  opts: { settle?: boolean; onError?: (e: unknown) => void } = {},
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (e) {
        if (!failure) {
          failure = { error: e };
          opts.onError?.(e);
        }
        if (!opts.settle) throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
  return results;
}
