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
 * `jobFloor` names the floor that does all of pd's job in Node (start-up, every byte, the
 * hashing, the files), or a part of it, as lean as we could write it: a target under it asks for
 * less than that program took in the same rounds, which the verdict says (issue 15: no target is
 * called unreachable without a floor measured under it in the same run).
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
  jobFloor,
}) {
  const ratio = pd.medianMs / peer.medianMs;
  const met = (maxRatio === undefined || ratio <= maxRatio) && checks.every((c) => c.ok);
  const job = floors.find((f) => f.name === jobFloor);
  if (jobFloor !== undefined && !job) throw new Error(`${name}: no floor named ${jobFloor}`);
  const result = {
    case: name,
    pd: side('pd', pd, pdCommand),
    peer: side(peer.name, peer, peerCommand),
    ratio: round(ratio, 3),
    target,
    maxRatio: maxRatio === undefined ? null : round(maxRatio, 3),
    met,
    floors: floors.map((f) => ({ ...f, ofPeer: round(f.medianMs / peer.medianMs, 2) })),
    jobFloor: job ? job.name : null,
    // The target asks for less than the job's floor costs.
    underFloor: job !== undefined && maxRatio !== undefined && job.medianMs / peer.medianMs > maxRatio,
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
    jobFloor: null,
    underFloor: false,
    notes: [],
    notRun: reason,
  };
}

/** The row's job floor (`{ name, medianMs, ofPeer }`), or undefined when it names none. */
export function jobFloorOf(r) {
  return r.jobFloor ? r.floors.find((f) => f.name === r.jobFloor) : undefined;
}

/**
 * How far a result is from what can be reached: ratio / bound (> 1 is missed), the bound being
 * the target, or the job's floor where the target is under it.
 */
export function targetDistance(r) {
  if (r.notRun || r.ratio === null || !r.maxRatio) return undefined;
  const floor = r.underFloor ? jobFloorOf(r).ofPeer : 0;
  return r.ratio / Math.max(r.maxRatio, floor);
}
