import type { ReferrerLocation } from '@pd/image';
import type { Digest } from '@pd/oci-types';
import type { Context } from '../context.js';
import { type OutputResult, report } from './image-io.js';

/** What a command that carried referrers along reports: its result and the referrers copied. */
export type WithReferrers = OutputResult & { referrers?: unknown[] };

/**
 * Copy the referrers of `srcDigest` at `from` to `to` (registry repositories or OCI layouts),
 * recursively; at `to` their subject is what `result` describes (rewritten only where its digest
 * changed on the way).
 */
export async function withReferrers(
  ctx: Context,
  from: ReferrerLocation,
  to: ReferrerLocation,
  srcDigest: string,
  result: OutputResult,
): Promise<unknown[]> {
  const { copyReferrersBetween } = await import('@pd/image');
  const subject = { mediaType: result.mediaType, digest: result.digest as Digest, size: result.size };
  return copyReferrersBetween(from, to, srcDigest, subject, {
    client: await ctx.registry(),
    signal: ctx.signal,
  });
}

/** The result line, then one line per referrer carried along (JSON: a `referrers` list). */
export function reportWithReferrers(ctx: Context, result: WithReferrers): void {
  report(ctx, result);
  if (ctx.flags.json) return;
  for (const r of (result.referrers ?? []) as { digest: string; artifactType?: string }[]) {
    ctx.print(`  referrer ${r.digest}${r.artifactType ? ` (${r.artifactType})` : ''}`);
  }
}
