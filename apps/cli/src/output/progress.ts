import { fit, formatBytes, formatDuration, formatRate, shortDigest } from './format.js';

/** What every pd package reports while it moves bytes. */
export interface ProgressEvent {
  id: string;
  label?: string | undefined;
  done: number;
  total?: number | undefined;
  phase?: string | undefined;
}

/**
 * `bars`: redrawn lines with escape codes (a terminal); `lines`: a plain line per start, phase
 * change and completion (--verbose off a terminal); `off`: nothing.
 */
export type ProgressMode = 'bars' | 'lines' | 'off';

export interface ModeInputs {
  isTTY: boolean;
  quiet: boolean;
  verbose: boolean;
  env: NodeJS.ProcessEnv;
}

export function progressMode({ isTTY, quiet, verbose, env }: ModeInputs): ProgressMode {
  if (quiet) return 'off';
  if (isTTY && env.TERM !== 'dumb' && !env.CI) return 'bars';
  return verbose ? 'lines' : 'off';
}

export interface Task {
  id: string;
  label: string;
  phase: string | undefined;
  done: number;
  total: number | undefined;
  /** (time ms, done) pairs of the last few seconds, for the rate. */
  samples: Array<[number, number]>;
  finished: boolean;
}

const RATE_WINDOW_MS = 5000;

/** `blobs/sha256/<64 hex>` (an archive member) or `sha256:<64 hex>` → `sha256:<12 hex>`: labels must fit a line. */
function shortenDigests(label: string): string {
  return label.replace(/(?:blobs\/)?sha256[:/]([0-9a-f]{12})[0-9a-f]{52}/g, 'sha256:$1');
}
const REDRAW_MS = 100;
const MAX_LINES = 16;

/** Bytes per second over the last few seconds, or undefined before there is a second sample. */
export function taskRate(task: Task): number | undefined {
  const first = task.samples[0];
  const last = task.samples[task.samples.length - 1];
  if (!first || !last || last[0] - first[0] < 200) return undefined;
  return ((last[1] - first[1]) * 1000) / (last[0] - first[0]);
}

function bar(fraction: number, width: number): string {
  const filled = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return `[${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? (filled === width ? '=' : '>') : ''}${' '.repeat(width - filled)}]`;
}

/** One line of a task, at most `width` columns. */
export function renderTask(task: Task, width: number): string {
  const labelWidth = Math.min(26, Math.max(12, Math.floor(width * 0.28)));
  const label = fit(task.label, labelWidth);
  const phase = (task.finished ? 'done' : (task.phase ?? '')).padEnd(9);
  if (task.finished) {
    return `${label} ${phase} ${formatBytes(task.total ?? task.done)}`.slice(0, width);
  }
  const rate = taskRate(task);
  const rateText = rate !== undefined ? formatRate(rate) : '';
  const total = task.total;
  if (total === undefined || total <= 0) {
    return `${label} ${phase} ${formatBytes(task.done)}  ${rateText}`.trimEnd().slice(0, width);
  }
  const eta =
    rate !== undefined && rate > 0 ? `ETA ${formatDuration(Math.max(0, total - task.done) / rate)}` : '';
  const amounts = `${formatBytes(task.done)} / ${formatBytes(total)}`;
  const tail = `${amounts}  ${rateText}  ${eta}`.trimEnd();
  const barWidth = width - label.length - phase.length - tail.length - 6;
  const barText = barWidth >= 10 ? `${bar(task.done / total, Math.min(40, barWidth))} ` : '';
  return `${label} ${phase} ${barText}${tail}`.slice(0, width);
}

export interface ProgressOutput {
  write(chunk: string): unknown;
  columns?: number | undefined;
}

/**
 * Draws per-task progress on stderr. Events arrive at any rate; the screen is redrawn at most
 * ten times a second. Messages written through {@link ProgressRenderer.message} appear above the
 * bars so the two never garble each other.
 */
export class ProgressRenderer {
  private readonly tasks = new Map<string, Task>();
  private drawn = 0;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: ProgressOutput,
    readonly mode: ProgressMode,
    private readonly clock: () => number = Date.now,
    /** Width when the stream does not know its own (a pty of size 0): $COLUMNS, else 80. */
    private readonly fallbackColumns = 80,
  ) {}

  /** Bound listener to hand to the packages' `onProgress`. */
  readonly listener = (e: ProgressEvent): void => this.update(e);

  update(e: ProgressEvent): void {
    if (this.mode === 'off') return;
    const now = this.clock();
    let task = this.tasks.get(e.id);
    const label = shortenDigests(e.label ?? (e.id.includes(':') ? shortDigest(e.id) : e.id));
    if (!task) {
      task = { id: e.id, label, phase: e.phase, done: 0, total: e.total, samples: [], finished: false };
      this.tasks.set(e.id, task);
      if (this.mode === 'lines')
        this.line(`${label}: ${e.phase ?? 'started'}${e.total ? ` (${formatBytes(e.total)})` : ''}`);
    } else if (e.phase !== undefined && e.phase !== task.phase && this.mode === 'lines') {
      this.line(`${task.label}: ${e.phase}`);
    }
    if (e.label !== undefined) task.label = shortenDigests(e.label);
    if (e.phase !== undefined) task.phase = e.phase;
    if (e.total !== undefined) task.total = e.total;
    // A restarted transfer (retry from zero) starts its rate over.
    if (e.done < task.done) task.samples = [];
    task.done = e.done;
    task.samples.push([now, e.done]);
    while (task.samples.length > 2 && now - task.samples[0]![0] > RATE_WINDOW_MS) task.samples.shift();
    const complete = task.total !== undefined && task.total > 0 && task.done >= task.total;
    if (complete && !task.finished) {
      task.finished = true;
      if (this.mode === 'lines') this.line(`${task.label}: done (${formatBytes(task.done)})`);
    } else if (!complete && task.finished) {
      task.finished = false;
    }
    if (this.mode === 'bars') this.schedule();
  }

  /** Mark a task finished (for operations whose total was unknown). */
  finishTask(id: string): void {
    const task = this.tasks.get(id);
    if (!task || task.finished) return;
    task.finished = true;
    task.total = task.done;
    if (this.mode === 'lines') this.line(`${task.label}: done (${formatBytes(task.done)})`);
    if (this.mode === 'bars') this.schedule();
  }

  /** A log line that must not be overdrawn by the bars. */
  message(text: string): void {
    if (this.mode === 'bars') {
      if (this.tasks.size > 0 && [...this.tasks.values()].every((t) => t.finished)) {
        // Work is over: leave the final bars where they are and go on below them.
        this.draw();
        this.tasks.clear();
        this.drawn = 0;
        this.out.write(`${text}\n`);
        return;
      }
      this.clear();
      this.out.write(`${text}\n`);
      this.dirty = this.tasks.size > 0;
      if (this.dirty) this.draw();
    } else {
      this.out.write(`${text}\n`);
    }
  }

  /**
   * Leave the bars drawn as they are and forget them: whatever is written next (a container's
   * output) goes below, and later events start new bars.
   */
  release(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.mode === 'bars' && this.tasks.size > 0) this.draw();
    this.tasks.clear();
    this.drawn = 0;
  }

  /** Erase the bars and stop (an interrupted command: its last line is `pd: interrupted`). */
  abandon(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.mode === 'bars') this.clear();
    this.tasks.clear();
  }

  /** Draw the final state and stop redrawing. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.mode === 'bars' && this.tasks.size > 0) this.draw();
  }

  private line(text: string): void {
    this.out.write(`pd: ${text}\n`);
  }

  private schedule(): void {
    this.dirty = true;
    if (this.timer) return;
    this.draw();
    this.timer = setInterval(() => {
      if (this.dirty) this.draw();
    }, REDRAW_MS);
    this.timer.unref();
  }

  private clear(): void {
    // Up to the first drawn line, then erase everything below it.
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}F\x1b[J`);
    this.drawn = 0;
  }

  private draw(): void {
    this.dirty = false;
    const width = Math.max(40, (this.out.columns || this.fallbackColumns) - 1);
    const all = [...this.tasks.values()];
    // Unfinished tasks first when there are more than fit.
    const shown =
      all.length <= MAX_LINES
        ? all
        : [...all.filter((t) => !t.finished), ...all.filter((t) => t.finished)].slice(0, MAX_LINES - 1);
    const lines = shown.map((t) => renderTask(t, width));
    if (shown.length < all.length) lines.push(`… ${all.length - shown.length} more`);
    const text = lines.map((l) => `\x1b[2K${l}\n`).join('');
    const up = this.drawn > 0 ? `\x1b[${this.drawn}F` : '';
    this.out.write(`${up}${text}${lines.length < this.drawn ? '\x1b[J' : ''}`);
    this.drawn = lines.length;
  }
}
