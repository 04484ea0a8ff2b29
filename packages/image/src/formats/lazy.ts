/**
 * Memoize an async computation: the first call starts it, later calls share the promise. A failure
 * is not cached, so a call aborted by its signal (or a transient I/O error) can be retried.
 */
export function lazy<T>(fn: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    if (!pending) {
      const p = fn();
      pending = p;
      p.catch(() => {
        if (pending === p) pending = undefined;
      });
    }
    return pending;
  };
}
