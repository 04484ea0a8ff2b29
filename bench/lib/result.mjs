// The one result shape every case returns (documented in bench/README.md).

const round = (x, digits) => (x === undefined || x === null ? null : Number(x.toFixed(digits)));

function side(name, s, command) {
  return {
    name,
    medianMs: Math.round(s.medianMs),
    peakRssMB: round(s.peakRssMB, 1),
    runsMs: s.runs.map((r) => Math.round(r.ms)),
    ...(command ? { command } : {}),
  };
}

/**
 * A measured pair. `maxRatio` is the target as a bound on pd time / peer time (a "1.8x faster"
 * target is maxRatio 1/1.8); `checks` are further conditions of the target (memory, bytes moved),
 * each `{ ok, note }`. The target is met when the ratio and every check hold. `floors` are
 * `{ name, medianMs }` measured in the same rounds (lib/floors.mjs): the least the job costs.
 */
export function pairResult({
  name,
  pd,
  peer,
  pdCommand,
  peerCommand,
  target,
  maxRatio,
  checks = [],
  notes = [],
  floors = [],
}) {
  const ratio = pd.medianMs / peer.medianMs;
  const met = (maxRatio === undefined || ratio <= maxRatio) && checks.every((c) => c.ok);
  const result = {
    case: name,
    pd: side('pd', pd, pdCommand),
    peer: side(peer.name, peer, peerCommand),
    ratio: round(ratio, 3),
    target,
    maxRatio: maxRatio === undefined ? null : round(maxRatio, 3),
    met,
    floors: floors.map((f) => ({ ...f, ofPeer: round(f.medianMs / peer.medianMs, 2) })),
    notes: [...checks.map((c) => `${c.ok ? 'ok' : 'MISSED'}: ${c.note}`), ...notes],
  };
  // How to run pd's side again (for the profiler); not part of the JSON.
  if (pd.prepare) Object.defineProperty(result, 'prepareProfile', { value: pd.prepare });
  return result;
}

/** A case that could not run; never carries numbers. */
export function notRun(name, target, reason) {
  return {
    case: name,
    pd: null,
    peer: null,
    ratio: null,
    target,
    maxRatio: null,
    met: null,
    floors: [],
    notes: [],
    notRun: reason,
  };
}

/** How far a result is from its target: ratio / bound (> 1 is missed). */
export function targetDistance(r) {
  if (r.notRun || r.ratio === null || !r.maxRatio) return undefined;
  return r.ratio / r.maxRatio;
}
