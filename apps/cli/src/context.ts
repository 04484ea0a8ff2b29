import type { RegistryClient } from '@pd/registry';
import { writeJson } from './output/json.js';
import { ProgressRenderer, progressMode } from './output/progress.js';
import { VERSION } from './version.js';

export interface OutputStream {
  write(chunk: string | Uint8Array): boolean;
  isTTY?: boolean | undefined;
  columns?: number | undefined;
}

export interface InputStream extends AsyncIterable<Buffer | string> {
  isTTY?: boolean | undefined;
}

/** Where a command reads and writes: the process's streams, or a test's. */
export interface Io {
  stdout: NodeJS.WritableStream & OutputStream;
  stderr: OutputStream;
  stdin: NodeJS.ReadableStream & InputStream;
  env: NodeJS.ProcessEnv;
  /**
   * Text for stdout, written at once. The CLI's main gives a plain write of the file descriptor,
   * so that short commands (help, version) never make the stdout stream and load Node's stream
   * modules with it (4 ms of their start-up). Without it, `stdout.write`.
   */
  writeOut?: ((text: string) => void) | undefined;
}

/** `text` to stdout, through `io.writeOut` where there is one. */
export function writeOut(io: Io, text: string): void {
  if (io.writeOut) io.writeOut(text);
  else io.stdout.write(text);
}

export interface GlobalFlags {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
  insecure: boolean;
}

/**
 * What a command gets besides its arguments: the output channels (results on stdout, everything
 * else on stderr), progress, a shared registry client and the signal that Ctrl-C aborts.
 */
export class Context {
  private renderer: ProgressRenderer | undefined;
  /** --force-platform: a single-platform image of another platform than --platform is used anyway. */
  forcePlatform = false;
  private client: RegistryClient | undefined;

  constructor(
    readonly io: Io,
    readonly flags: GlobalFlags,
    readonly signal: AbortSignal,
  ) {
    // @pd/image's warnings (a corrupt cached blob fetched again) come out as pd's own; set on a
    // global slot, so @pd/image is not imported at start-up just for this.
    (globalThis as Record<symbol, unknown>)[Symbol.for('@pd/image/warn')] = (m: string) => this.warn(m);
  }

  /** Progress and notes on stderr; made on first use, as the stderr stream is (Io). */
  get progress(): ProgressRenderer {
    this.renderer ??= new ProgressRenderer(
      this.io.stderr,
      progressMode({
        isTTY: this.io.stderr.isTTY === true,
        quiet: this.flags.quiet,
        verbose: this.flags.verbose,
        env: this.io.env,
      }),
      Date.now,
      Number(this.io.env.COLUMNS) || 80,
    );
    return this.renderer;
  }

  get env(): NodeJS.ProcessEnv {
    return this.io.env;
  }

  /** The registry client, created on first use and closed when the command ends. */
  async registry(): Promise<RegistryClient> {
    if (this.client) return this.client;
    // Loaded here, not at start-up: commands that never talk to a registry do not pay for undici.
    const { RegistryClient, proxyFromEnv } = await import('@pd/registry');
    this.client ??= new RegistryClient({
      proxy: proxyFromEnv(this.io.env) ?? false,
      insecure: this.flags.insecure,
      userAgent: `pd/${VERSION} (node ${process.version})`,
      ...(this.flags.verbose
        ? { logger: { debug: (m: string) => this.log(m), warn: (m: string) => this.warn(m) } }
        : {}),
    });
    return this.client;
  }

  /**
   * A result line on stdout: what a command produced (`wrote x.tar (…)`, `pushed REF@DIGEST`, a
   * digest, a list), even with -q, as docker and crane print results. Progress, notes, warnings
   * and logs go to stderr.
   */
  print(text: string): void {
    writeOut(this.io, `${text}\n`);
  }

  /** The `--json` result on stdout. */
  printJson(value: unknown): void {
    writeJson({ write: (text: string) => writeOut(this.io, text) }, value);
  }

  /** A note beside the result (a cache hit, a conversion): stderr, not with -q. */
  info(text: string): void {
    if (!this.flags.quiet) this.progress.message(text);
  }

  /** Something the user should know even when things work: stderr, always. */
  warn(text: string): void {
    this.progress.message(`pd: warning: ${text}`);
  }

  /** Step-by-step detail for --verbose. */
  log(text: string): void {
    if (this.flags.verbose) this.progress.message(`pd: ${text}`);
  }

  async close(): Promise<void> {
    this.renderer?.stop();
    await this.client?.close();
    // Packages fall back to a shared client when given none; close it too so nothing keeps node
    // alive. @pd/image announces it on a global slot, so it is not imported here just to close it.
    const closeDefault = (globalThis as Record<symbol, unknown>)[
      Symbol.for('@pd/image/close-default-client')
    ];
    if (typeof closeDefault === 'function') await (closeDefault as () => Promise<void>)();
  }
}
