import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { missingTools } from '@pd/test-fixtures';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../src/commands/index.js';
import { hasStackTrace, isolatedEnv, pd } from './helpers.js';

const iso = isolatedEnv();
afterAll(() => iso.cleanup());
const run = (args: string[]) => pd(args, { env: iso.env });

describe('help', () => {
  it('pd alone and pd --help list every command', async () => {
    for (const args of [[], ['--help'], ['help']]) {
      const r = await run(args);
      expect(r.code).toBe(0);
      for (const name of COMMANDS.keys()) expect(r.stdout).toContain(name);
    }
  });

  it.concurrent.each([...COMMANDS.keys()])('pd %s --help shows usage, options and examples', async (name) => {
    const a = await run([...name.split(' '), '--help']);
    expect(a.code).toBe(0);
    expect(a.stdout).toContain(`Usage: pd ${name}`);
    expect(a.stdout).toContain('Examples:');
    const cmd = await COMMANDS.get(name)!.load();
    // The lazy table and the command module agree on the name.
    expect(cmd.name).toBe(name);
    for (const opt of Object.keys(cmd.options)) expect(a.stdout).toContain(`--${opt}`);
    if (cmd.json) expect(a.stdout).toContain('JSON output (--json):');
  });

  it('pd help CMD is pd CMD --help', async () => {
    for (const words of [['tags'], ['layer', 'create']]) {
      const a = await run(['help', ...words]);
      const b = await run([...words, '--help']);
      expect(a.code).toBe(0);
      expect(a.stdout).toBe(b.stdout);
    }
  });

  it('pd help of a command family lists its commands', async () => {
    const r = await run(['help', 'layer']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/layer create[\s\S]*layer extract[\s\S]*layer ls/);
  });

  it('--help wins over missing arguments', async () => {
    const r = await run(['digest', '-h']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: pd digest REF');
  });

  it('pd version and --version print the version of the package', async () => {
    const { version } = (await import('../package.json', { with: { type: 'json' } })).default as {
      version: string;
    };
    expect((await run(['version'])).stdout).toBe(`pd ${version}\n`);
    expect((await run(['--version'])).stdout).toBe(`pd ${version}\n`);
    const j = JSON.parse((await run(['version', '--json'])).stdout) as Record<string, unknown>;
    expect(j).toEqual({ version, node: process.version, platform: expect.stringMatching(/^linux\//) });
  });
});

describe('usage errors exit 2 with one line and the usage', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['unknown command', ['frobnicate'], /^pd: unknown command "frobnicate" \(run pd --help/],
    ['a typo', ['digets', 'x'], /^pd: unknown command "digets" \(did you mean pd digest\?/],
    [
      'unknown sub-command',
      ['layer', 'crate'],
      /^pd: unknown command "layer crate" \(did you mean pd layer create\?/,
    ],
    ['missing sub-command', ['layer'], /^pd: pd layer needs a command: create, extract, ls/],
    ['missing argument', ['digest'], /^pd: missing argument REF$/],
    ['unknown option', ['tags', '--colour', 'x'], /^pd: unknown option --colour$/],
    ['unknown global option', ['--colour', 'tags'], /^pd: unknown option --colour \(/],
    ['option without value', ['layer', 'create', 'dir', '-o'], /^pd: option -o needs a value \(FILE\)$/],
    [
      'value for a flag',
      ['layer', 'extract', '--skip-unsafe=yes', 'a', 'b'],
      /^pd: option --skip-unsafe takes no value$/,
    ],
    [
      'bad choice',
      ['layer', 'create', 'd', '-o', 'f', '--compression', 'xz'],
      /must be one of gzip, zstd, none$/,
    ],
    ['too many arguments', ['tags', 'a', 'b'], /^pd: too many arguments \(expected at most 1, got 2\)$/],
    ['missing -o', ['layer', 'create', '.'], /^pd: missing --output \(-o\) FILE$/],
    [
      'completion for fish',
      ['completion', 'fish'],
      /^pd: no completion for shell "fish" \(pd completes bash and zsh\)$/,
    ],
  ];
  it.concurrent.each(cases)('%s', async (_name, args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(message);
    expect(hasStackTrace(r.stderr)).toBe(false);
    // After the message: the usage line of the command (when one was recognised).
    if (lines.length > 1) expect(lines[1]).toMatch(/^usage: pd /);
  });

  it('never echoes a stray argument (it may be a password)', async () => {
    const r = await run(['login', 'localhost:5000', '-u', 'me', 'hunter2-secret']);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain('hunter2-secret');
  });
});

describe('bad references exit 1 with a hint', () => {
  it.each([
    ['Ubuntu:1', /^pd: invalid reference "Ubuntu:1": .+ \(.+\)$/],
    ['x:', /^pd: invalid reference "x:": .+\(write it as docker does/],
    ['x@sha256:abc', /^pd: invalid reference "x@sha256:abc"|^pd: invalid digest/],
  ])('%s', async (ref, message) => {
    const r = await run(['digest', ref]);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr.trimEnd()).toMatch(message);
  });

  it.each([
    [['catalog', 'http://'], /^pd: invalid registry "http:\/\/" \(give a registry host/],
    [['login', 'a b', '-u', 'x', '--password-stdin'], /^pd: invalid registry "a b" \(/],
    [['run', '--rm', 'Bad:1'], /^pd: invalid reference "Bad:1": .+ \(write it as docker does/],
    [['inspect', 'Bad:1'], /^pd: invalid reference "Bad:1": .+ \(write it as docker does/],
    [
      ['append', 'x:', '--layer', '.', '-o', 'o.tar'],
      /^pd: invalid reference "x:": .+ \(write it as docker does: .*; or give a file that exists: /,
    ],
  ])('%j', async (args, message) => {
    const r = await run(args);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr.trimEnd()).toMatch(message);
  });
});

describe('the Liftoff flag (node:v8) only where undici may compile WebAssembly', () => {
  // main.ts loads node:v8 just to set --liftoff-only, and only a forward proxy brings undici in:
  // a preload reports whether node:v8 was loaded by the time pd exits.
  const probe = join(iso.dir, 'v8-probe.cjs');
  const answer = join(iso.dir, 'v8-probe.txt');
  writeFileSync(
    probe,
    `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(answer)}, ` +
      `String(process.moduleLoadList.includes('NativeModule v8'))));`,
  );
  const loadsV8 = async (args: string[], extra: NodeJS.ProcessEnv = {}) => {
    const r = await pd(args, { env: { ...iso.env, NODE_OPTIONS: `--require ${probe}`, ...extra } });
    expect(r.stderr).toMatch(/^pd: /); // the registry on port 9 refuses: an error, quickly
    return readFileSync(answer, 'utf8') === 'true';
  };

  it('a registry command without a proxy does not load node:v8', async () => {
    expect(await loadsV8(['digest', '127.0.0.1:9/x:y'])).toBe(false);
  });

  it('with HTTPS_PROXY or http_proxy set, it sets the flag', async () => {
    expect(await loadsV8(['digest', '127.0.0.1:9/x:y'], { HTTPS_PROXY: 'http://127.0.0.1:9' })).toBe(true);
    expect(await loadsV8(['digest', '127.0.0.1:9/x:y'], { http_proxy: 'http://127.0.0.1:9' })).toBe(true);
  });
});

describe('start-up: help and version load none of the packages', () => {
  // A module hook (node:module register) writes down every file pd's process loads. The CLI's
  // dist carries the packages in its chunks, so what was loaded is read from the loaded files'
  // source maps: the modules each file was made of.
  const hooks = join(iso.dir, 'load-hooks.mjs');
  const register = join(iso.dir, 'load-register.mjs');
  const log = join(iso.dir, 'loaded.txt');
  writeFileSync(
    hooks,
    "import { appendFileSync } from 'node:fs';\n" +
      'export async function load(url, context, next) {\n' +
      `  appendFileSync(${JSON.stringify(log)}, url + '\\n');\n` +
      '  return next(url, context);\n}\n',
  );
  writeFileSync(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
  );
  /** The files `pd ...args` loaded. */
  const loadedFiles = async (args: string[]) => {
    writeFileSync(log, '');
    const r = await pd(args, {
      env: { ...iso.env, NODE_OPTIONS: `--import ${pathToFileURL(register).href}` },
    });
    expect(r.code).toBe(0);
    const files = readFileSync(log, 'utf8')
      .split('\n')
      .filter((u) => u.startsWith('file:'))
      .map((u) => fileURLToPath(u));
    expect(files.some((f) => f.includes('/apps/cli/dist/'))).toBe(true); // the hook saw pd's own files
    return files;
  };
  /** The modules, by path, that went into the files `pd ...args` loaded. */
  const loaded = async (args: string[]) =>
    (await loadedFiles(args)).flatMap((f) => {
      const map = JSON.parse(readFileSync(`${f}.map`, 'utf8')) as { sources: string[] };
      return map.sources.map((s) => resolve(dirname(f), s));
    });
  const fromPackages = (modules: string[]) => modules.filter((m) => m.includes('/packages/'));

  it.each([[['version']], [['--help']]])('pd %j', async (args) => {
    const modules = await loaded(args);
    expect(modules.some((m) => m.endsWith('/apps/cli/src/cli.ts'))).toBe(true); // maps name the sources
    // @pd/oci-types alone cost `pd version` 5 ms; its errors module is all the CLI's core needs.
    const errors = /\/oci-types\/(dist\/errors\.js|src\/errors\.ts)$/;
    expect(fromPackages(modules).filter((m) => !errors.test(m))).toEqual([]);
  });

  it('pd version loads its entry, the CLI core and the command: three files', async () => {
    // Each ES module file costs the start-up its own resolve, read, compile and link; the build
    // keeps the core one chunk (scripts/bundle-dist.mjs --core).
    const files = await loadedFiles(['version']);
    expect(files.map((f) => f.replace(/.*\/dist\//, ''))).toEqual([
      'main.js',
      expect.stringMatching(/^chunk-/),
      expect.stringMatching(/^chunk-/),
    ]);
  });

  it('pd version --json loads @pd/oci-types for the platform', async () => {
    expect(fromPackages(await loaded(['version', '--json']))).toContainEqual(
      expect.stringMatching(/\/packages\/oci-types\/src\/platform\.ts$/),
    );
  });
});

describe.skipIf(missingTools('bash'))('bash completion', () => {
  const script = join(iso.dir, 'pd.bash');

  async function complete(words: string[]): Promise<string[]> {
    const cword = words.length - 1;
    const cur = words[cword] ?? '';
    const prev = words[cword - 1] ?? '';
    const arr = words.map((w) => `'${w}'`).join(' ');
    const out = execFileSync(
      'bash',
      [
        '-c',
        `source '${script}'; COMP_WORDS=(${arr}); COMP_CWORD=${cword}; _pd pd '${cur}' '${prev}'; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ],
      { encoding: 'utf8', cwd: iso.dir },
    );
    return out.split('\n').filter(Boolean);
  }

  it('completes commands, sub-commands, options and choices from the command table', async () => {
    const r = await run(['completion', 'bash']);
    expect(r.code).toBe(0);
    writeFileSync(script, r.stdout);
    expect(await complete(['pd', 'di'])).toEqual(['digest']);
    expect(await complete(['pd', 'layer', ''])).toEqual(['create', 'extract', 'ls']);
    expect(await complete(['pd', 'layer', 'create', '--compression', ''])).toEqual(['gzip', 'zstd', 'none']);
    expect(await complete(['pd', '--json', 'login', 'x', '--pass'])).toEqual([
      '--password',
      '--password-stdin',
    ]);
    expect(await complete(['pd', 'layer', 'create', '-o', 'pd.ba'])).toEqual(['pd.bash']);
  });
});

describe.skipIf(missingTools('zsh'))('zsh completion', () => {
  it('is valid zsh and completes from the command table', async () => {
    const r = await run(['completion', 'zsh']);
    expect(r.code).toBe(0);
    const script = join(iso.dir, '_pd');
    writeFileSync(script, r.stdout);
    const stubs =
      'compadd() { [[ $1 == -- ]] && shift; print -r -- "$@"; }; compdef() { :; }; _files() { print FILES; }';
    const out = execFileSync(
      'zsh',
      [
        '-c',
        `${stubs}; source '${script}'; words=(pd layer ''); CURRENT=3; _pd; words=(pd layer create --compression ''); CURRENT=5; _pd; words=(pd blob -o ''); CURRENT=4; _pd`,
      ],
      { encoding: 'utf8' },
    );
    expect(out.split('\n').filter(Boolean)).toEqual(['create extract ls', 'gzip zstd none', 'FILES']);
  });
});
