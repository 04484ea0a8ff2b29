import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  freePort,
  type RunningRegistry,
  registryMissing,
  runcMissing,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Command } from '../src/command.js';
import { COMMANDS } from '../src/commands/index.js';
import { hasStackTrace, isolatedEnv, type PdResult, pd } from './helpers.js';

/**
 * Every command with each class of bad input: missing and extra arguments, missing files in every
 * place that takes a path, outputs that cannot be written, bad references, a registry port where
 * nothing listens, wrong credentials against the real htpasswd registry, corrupt archives and
 * invalid pd.yaml files. Each must give one line on stderr starting `pd:` (a usage error adds the
 * usage and the help pointer), no stack trace, no secret, the documented exit code (1, or 2 for a
 * wrong command line), nothing on stdout and nothing written.
 */

const PASSWORD = 'pd-Right-Pa55word';
const WRONG = 'pd-Wr0ng-Pa55word-7731';
const HEX = 'a'.repeat(64);

/** What a case may print: `pd: …` alone, or with the usage block for a usage error. */
function expectOneLine(r: PdResult, label: string): void {
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines[0], `${label}: ${r.stderr}`).toMatch(/^pd: \S/);
  if (r.code === 2 && lines.length === 3) {
    expect(lines[1], label).toMatch(/^usage: pd /);
    expect(lines[2], label).toMatch(/^Run 'pd help /);
  } else {
    expect(lines, `${label}: ${r.stderr}`).toHaveLength(1);
  }
  expect(hasStackTrace(r.stderr), label).toBe(false);
  expect(r.stderr, label).not.toMatch(/\bat (async )?\S+ \(|node:internal|ENOENT:|EISDIR:|ENOTDIR:/);
  expect(r.stdout, label).toBe('');
  for (const secret of [PASSWORD, WRONG]) {
    for (const shape of [secret, Buffer.from(`alice:${secret}`).toString('base64')]) {
      expect(`${r.stdout}${r.stderr}`, label).not.toContain(shape);
    }
  }
}

/** A case: what it runs, the exit code it must give, and what its line must say. */
type Case = [label: string, argv: () => string[], code: number, line?: RegExp];

describe('every command, every class of bad input', () => {
  const iso = isolatedEnv();
  const out = join(iso.dir, 'out');
  const run = (argv: string[], input?: string) =>
    pd(argv, { env: iso.env, cwd: iso.dir, timeout: 60_000, ...(input !== undefined ? { input } : {}) });

  async function check([label, argv, code, line]: Case, input?: string): Promise<void> {
    const r = await run(argv(), input);
    expectOneLine(r, label);
    if (line) expect(r.stderr.split('\n')[0], label).toMatch(line);
    expect(r.code, `${label}: ${r.stderr}`).toBe(code);
    // Nothing half-written: no output, no temporary file beside one.
    expect(readdirSync(out), label).toEqual([]);
  }

  let dead: string;
  beforeAll(async () => {
    mkdirSync(out);
    mkdirSync(join(iso.dir, 'app'));
    writeFileSync(join(iso.dir, 'app', 'hello.txt'), 'hello\n');
    writeFileSync(join(iso.dir, 'pd.yaml'), 'layers:\n  - src: app\n    dest: /app\n');
    const b = await run(['build', '-o', 'good.tar', '-q']);
    expect(b.code, b.stderr).toBe(0);
    const l = await run(['layer', 'create', 'app', '-o', 'layer.tgz', '-q']);
    expect(l.code, l.stderr).toBe(0);
    writeFileSync(join(iso.dir, 'corrupt.tar'), Buffer.alloc(4096, 0x5a));
    writeFileSync(
      join(iso.dir, 'corrupt.tgz'),
      Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(64, 7)]),
    );
    const good = readFileSync(join(iso.dir, 'good.tar'));
    writeFileSync(join(iso.dir, 'truncated.tar'), good.subarray(0, good.length >> 1));
    writeFileSync(join(iso.dir, 'afile'), 'a file, not a directory\n');
    mkdirSync(join(iso.dir, 'bad-yaml'));
    writeFileSync(join(iso.dir, 'bad-yaml', 'pd.yaml'), 'layers: [unclosed\n');
    mkdirSync(join(iso.dir, 'unknown-field'));
    writeFileSync(join(iso.dir, 'unknown-field', 'pd.yaml'), 'colour: blue\n');
    mkdirSync(join(iso.dir, 'missing-src'));
    writeFileSync(join(iso.dir, 'missing-src', 'pd.yaml'), 'layers:\n  - src: nope\n');
    dead = `127.0.0.1:${await freePort()}`; // nothing listens there
  });
  afterAll(() => iso.cleanup());

  describe('missing and extra arguments (exit 2, with the usage)', () => {
    let commands: Command[] = [];
    beforeAll(async () => {
      commands = await Promise.all([...COMMANDS.values()].map((c) => c.load()));
    });

    it('every command that needs an argument says which is missing', async () => {
      for (const cmd of commands.filter((c) => c.args.some((a) => a.required !== false))) {
        await check([
          `pd ${cmd.name}`,
          () => [...cmd.name.split(' ')],
          2,
          /^pd: missing (argument|--output)/,
        ]);
      }
    });

    it('every command refuses extra arguments, and never echoes them', async () => {
      for (const cmd of commands.filter((c) => !c.args.some((a) => a.variadic) && !c.stopAfterArg)) {
        const argv = [...cmd.name.split(' '), ...cmd.args.map(() => 'x'), 'extra-9a7', 'extra-9a8'];
        const r = await run(argv);
        expectOneLine(r, `pd ${cmd.name} with extras`);
        expect(r.code, `pd ${cmd.name}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(/^pd: too many arguments/);
        expect(r.stderr).not.toContain('extra-9a');
      }
    });
  });

  it('the cases below cover every path option and argument of the command table', async () => {
    // Where each path place is exercised: missing (input) or unwritable (output). A new path
    // option must be added to the cases and here.
    const covered = new Set([
      'push PATH',
      'export OUT',
      'layer create DIR',
      'layer create --output',
      'layer extract FILE',
      'layer extract DIR',
      'layer ls FILE',
      'build FILE',
      'build --output',
      'append --layer',
      'append --tarball',
      'append --output',
      'mutate --output',
      'flatten --output',
      'rebase --output',
      'pull --output',
      'blob --output',
      'conda build --output',
      'conda build --file',
      'conda build --lockfile',
      'run --env-file',
      'sync --config',
      'artifact push FILE',
      'attach FILE',
      // Need a real artifact or container to reach the write: artifacts.test.ts, commit.test.ts.
      'artifact pull --output',
      'commit --output',
      'sbom --output',
    ]);
    const places: string[] = [];
    for (const cmd of await Promise.all([...COMMANDS.values()].map((c) => c.load()))) {
      for (const a of cmd.args) if (a.complete) places.push(`${cmd.name} ${a.name}`);
      for (const [n, o] of Object.entries(cmd.options)) if (o.complete) places.push(`${cmd.name} --${n}`);
    }
    expect(places.filter((p) => !covered.has(p))).toEqual([]);
  });

  it('a missing file in every place that takes a path: one line naming it', async () => {
    const cases: Case[] = [
      ['push PATH', () => ['push', 'nope.tar', `${dead}/x:1`], 1, /nope\.tar/],
      ['append BASE', () => ['append', 'nope.tar', '--layer', 'app:/app', '-o', 'out/a.tar'], 1, /nope\.tar/],
      ['append --layer', () => ['append', 'good.tar', '--layer', 'nope:/x', '-o', 'out/a.tar'], 1, /nope/],
      [
        'append --tarball',
        () => ['append', 'good.tar', '--tarball', 'nope.tgz', '-o', 'out/a.tar'],
        1,
        /nope\.tgz/,
      ],
      ['mutate IMAGE', () => ['mutate', 'nope.tar', '--env', 'A=1', '-o', 'out/m.tar'], 1, /nope\.tar/],
      ['inspect IMAGE', () => ['inspect', 'nope.tar'], 1, /nope\.tar/],
      ['sbom IMAGE', () => ['sbom', 'nope.tar'], 1, /nope\.tar/],
      ['export IMAGE', () => ['export', 'nope.tar', 'out/e.tar'], 1, /nope\.tar/],
      ['flatten IMAGE', () => ['flatten', 'nope.tar', '-o', 'out/f.tar'], 1, /nope\.tar/],
      [
        'rebase IMAGE',
        () => ['rebase', 'nope.tar', '--old-base', 'good.tar', '--new-base', 'good.tar', '-o', 'out/r.tar'],
        1,
        /nope\.tar/,
      ],
      [
        'rebase --old-base',
        () => ['rebase', 'good.tar', '--old-base', 'nope.tar', '--new-base', 'good.tar', '-o', 'out/r.tar'],
        1,
        /nope\.tar/,
      ],
      [
        'rebase --new-base',
        () => ['rebase', 'good.tar', '--old-base', 'good.tar', '--new-base', 'nope.tar', '-o', 'out/r.tar'],
        1,
        /nope\.tar/,
      ],
      ['layer create DIR', () => ['layer', 'create', 'nope', '-o', 'out/l.tgz'], 1, /nope/],
      ['layer extract FILE', () => ['layer', 'extract', 'nope.tgz', 'out/d'], 1, /nope\.tgz/],
      ['layer ls FILE', () => ['layer', 'ls', 'nope.tgz'], 1, /nope\.tgz/],
      ['build FILE', () => ['build', 'nope.yaml', '-o', 'out/b.tar'], 1, /nope\.yaml/],
      ['build DIR without pd.yaml', () => ['build', 'app', '-o', 'out/b.tar'], 1, /app\/pd\.yaml/],
      [
        'pd.yaml layer src',
        () => ['build', 'missing-src', '-o', 'out/b.tar'],
        1,
        /\$\.layers\[0\]\.src: .*nope/,
      ],
      [
        'conda build --file',
        () => ['conda', 'build', '-b', 'scratch', '-i', 'x:1', '-f', 'nope.yml', '-o', 'out/c.tar'],
        1,
        /nope\.yml/,
      ],
      [
        'conda build --lockfile',
        () => ['conda', 'build', '-b', 'scratch', '-i', 'x:1', '--lockfile', 'nope.txt', '-o', 'out/c.tar'],
        1,
        /nope\.txt/,
      ],
      [
        'conda build --base',
        () => ['conda', 'build', 'x', '-b', './nope.tar', '-i', 'x:1', '-o', 'out/c.tar'],
        1,
        /nope\.tar/,
      ],
      ['run IMAGE', () => ['run', '--rm', './nope.tar', 'true'], 1, /nope\.tar/],
      ['run --env-file', () => ['run', '--rm', '--env-file', 'nope.env', 'good.tar', 'true'], 1, /nope\.env/],
      ['sync --config', () => ['sync', '--config', 'nope.yaml'], 1, /nope\.yaml/],
      ['artifact push FILE', () => ['artifact', 'push', `${dead}/a:1`, 'nope.txt'], 1, /nope\.txt/],
      ['attach FILE', () => ['attach', `${dead}/a:1`, 'nope.txt', '--artifact-type', 'a/b'], 1, /nope\.txt/],
    ];
    for (const c of cases) await check(c);
  });

  it('an output that cannot be written: one line naming it, what to do, nothing left', async () => {
    const cases: Case[] = [
      ['append -o', () => ['append', 'good.tar', '--layer', 'app:/app', '-o', 'out/nodir/a.tar'], 1],
      ['mutate -o', () => ['mutate', 'good.tar', '--env', 'A=1', '-o', 'out/nodir/m.tar'], 1],
      ['flatten -o', () => ['flatten', 'good.tar', '-o', 'out/nodir/f.tar'], 1],
      ['sbom -o', () => ['sbom', 'good.tar', '-o', 'out/nodir/s.json'], 1],
      ['export OUT', () => ['export', 'good.tar', 'out/nodir/e.tar'], 1],
      ['build -o', () => ['build', '-o', 'out/nodir/b.tar'], 1],
      ['layer create -o', () => ['layer', 'create', 'app', '-o', 'out/nodir/l.tgz'], 1],
      [
        'rebase -o',
        () => [
          'rebase',
          'good.tar',
          '--old-base',
          'good.tar',
          '--new-base',
          'good.tar',
          '-o',
          'out/nodir/r.tar',
        ],
        1,
      ],
      ['under a file', () => ['flatten', 'good.tar', '-o', 'afile/f.tar'], 1],
      ['layer extract under a file', () => ['layer', 'extract', 'layer.tgz', 'afile/d'], 1],
    ];
    for (const c of cases)
      await check([c[0], c[1], c[2], /^pd: cannot (write|create|mkdir|open) .*(nodir|afile)/]);
    for (const [label, argv] of [
      ['-o ""', ['flatten', 'good.tar', '-o', '']],
      ['export ""', ['export', 'good.tar', '']],
      ['layer create -o ""', ['layer', 'create', 'app', '-o', '']],
      ['conda build -o ""', ['conda', 'build', 'x', '-b', 'scratch', '-i', 'x:1', '-o', '']],
    ] as const) {
      await check([label, () => [...argv], 2, /^pd: (-o, --output|OUT) is empty \(give a path\)$/]);
    }
  });

  it('bad references: one line with how to write one', async () => {
    const bad = 'Bad:Ref!';
    const cases: Case[] = [
      ['pull', () => ['pull', bad, '-o', 'out/x.tar'], 1],
      ['push', () => ['push', 'good.tar', bad], 1],
      ['copy src', () => ['copy', bad, `${dead}/y:1`], 1],
      ['copy dst', () => ['copy', `${dead}/y:1`, bad], 1],
      ['digest', () => ['digest', bad], 1],
      ['manifest', () => ['manifest', bad], 1],
      ['delete', () => ['delete', bad], 1],
      ['tags', () => ['tags', 'Bad!Repo'], 1],
      ['blob', () => ['blob', 'x@sha256:zz'], 1],
      ['append -t', () => ['append', 'good.tar', '--layer', 'app:/app', '-t', bad], 1],
      ['mutate', () => ['mutate', bad, '--env', 'A=1', '-o', 'out/m.tar'], 1],
      ['inspect', () => ['inspect', bad], 1],
      ['run', () => ['run', '--rm', bad, 'true'], 1],
      [
        'a URL',
        () => ['pull', `http://${dead}/x:1`, '-o', 'out/x.tar'],
        1,
        /is a URL, not an image reference \(drop the http:\/\//,
      ],
    ];
    for (const c of cases) await check(c);
  });

  it('a registry port where nothing listens: one line naming the registry', async () => {
    const ref = `${dead}/x:1`;
    const cases: Case[] = [
      ['pull', () => ['pull', ref, '-o', 'out/x.tar'], 1],
      ['push', () => ['push', 'good.tar', ref], 1],
      ['copy', () => ['copy', ref, `${dead}/y:1`], 1],
      ['append -t', () => ['append', 'good.tar', '--layer', 'app:/app', '-t', ref], 1],
      ['digest', () => ['digest', ref], 1],
      ['manifest', () => ['manifest', ref], 1],
      ['inspect', () => ['inspect', ref], 1],
      ['tags', () => ['tags', `${dead}/x`], 1],
      ['catalog', () => ['catalog', dead], 1],
      ['delete', () => ['delete', ref], 1],
      ['blob', () => ['blob', `${dead}/x@sha256:${HEX}`, '-o', 'out/b'], 1],
      ['login', () => ['login', dead, '-u', 'alice', '--password-stdin'], 1],
      ['run', () => ['run', '--rm', ref, 'true'], 1],
    ];
    for (const c of cases)
      await check([c[0], c[1], c[2], new RegExp(`${dead.replace(/\./g, '\\.')}`)], PASSWORD);
  });

  it('corrupt and truncated archives: one line, nothing written', async () => {
    const cases: Case[] = [];
    for (const file of ['corrupt.tar', 'truncated.tar']) {
      cases.push(
        [`inspect ${file}`, () => ['inspect', file], 1],
        [`export ${file}`, () => ['export', file, 'out/e.tar'], 1],
        [`flatten ${file}`, () => ['flatten', file, '-o', 'out/f.tar'], 1],
        [`mutate ${file}`, () => ['mutate', file, '--env', 'A=1', '-o', 'out/m.tar'], 1],
        [`append ${file}`, () => ['append', file, '--layer', 'app:/app', '-o', 'out/a.tar'], 1],
        [`push ${file}`, () => ['push', file, `${dead}/x:1`], 1],
      );
    }
    cases.push(
      ['layer ls', () => ['layer', 'ls', 'corrupt.tgz'], 1],
      ['layer extract', () => ['layer', 'extract', 'corrupt.tgz', 'out/d'], 1],
      ['append --tarball', () => ['append', 'good.tar', '--tarball', 'corrupt.tgz', '-o', 'out/a.tar'], 1],
    );
    for (const c of cases) await check(c);
  });

  it('invalid pd.yaml: one line naming the file or the field', async () => {
    await check([
      'YAML syntax',
      () => ['build', 'bad-yaml', '-o', 'out/b.tar'],
      1,
      /bad-yaml\/pd\.yaml: not valid YAML/,
    ]);
    await check(['unknown field', () => ['build', 'unknown-field', '-o', 'out/b.tar'], 1, /colour/]);
  });

  describe.skipIf(registryMissing())('wrong credentials against the real htpasswd registry', () => {
    let registry: RunningRegistry;
    beforeAll(async () => {
      registry = await startRegistry({ htpasswd: { alice: PASSWORD } });
      const login = await run(['login', registry.host, '-u', 'alice', '--password-stdin'], PASSWORD);
      expect(login.code, login.stderr).toBe(0);
      const push = await run(['push', 'good.tar', `${registry.host}/app:1`, '-q']);
      expect(push.code, push.stderr).toBe(0);
      // Outputs that cannot be written, with a registry that answers.
      const manifest = JSON.parse((await run(['manifest', `${registry.host}/app:1`])).stdout) as {
        config: { digest: string };
      };
      for (const [label, argv] of [
        ['pull -o', ['pull', `${registry.host}/app:1`, '-o', 'out/nodir/x.tar']],
        ['blob -o', ['blob', `${registry.host}/app@${manifest.config.digest}`, '-o', 'out/nodir/b']],
      ] as const) {
        await check([
          label,
          () => [...argv],
          1,
          /^pd: cannot write .*out\/nodir\/(x\.tar|b): its directory does not exist/,
        ]);
      }
      // Then the stored password goes wrong (changed elsewhere, say).
      const auth = Buffer.from(`alice:${WRONG}`).toString('base64');
      writeFileSync(
        join(iso.env.DOCKER_CONFIG!, 'config.json'),
        JSON.stringify({ auths: { [registry.host]: { auth } } }),
      );
    });
    afterAll(async () => {
      await registry?.stop();
    });

    it('every registry command: one line, no secret, exit 1', async () => {
      const host = () => registry.host;
      const ref = () => `${host()}/app:1`;
      const cases: Case[] = [
        ['pull', () => ['pull', ref(), '-o', 'out/x.tar'], 1],
        ['push', () => ['push', 'good.tar', `${host()}/app:2`], 1],
        ['copy', () => ['copy', ref(), `${host()}/app:3`], 1],
        ['digest', () => ['digest', ref()], 1],
        ['manifest', () => ['manifest', ref()], 1],
        ['inspect', () => ['inspect', ref()], 1],
        ['tags', () => ['tags', `${host()}/app`], 1],
        ['catalog', () => ['catalog', host()], 1],
        ['delete', () => ['delete', ref()], 1],
        ['blob', () => ['blob', `${host()}/app@sha256:${HEX}`, '-o', 'out/b'], 1],
      ];
      for (const c of cases) await check([c[0], c[1], c[2], /rejected the credentials of "alice"/]);
    });

    it('pd login with a wrong password hints at what to check, stores nothing', async () => {
      const before = readFileSync(join(iso.env.DOCKER_CONFIG!, 'config.json'), 'utf8');
      await check(
        [
          'login',
          () => ['login', registry.host, '-u', 'alice', '--password-stdin'],
          1,
          /rejected the credentials of "alice" \(check the user name and the password or token .*nothing was stored\)$/,
        ],
        WRONG,
      );
      expect(readFileSync(join(iso.env.DOCKER_CONFIG!, 'config.json'), 'utf8')).toBe(before);
    });
  });

  describe.skipIf(runcMissing())('pd run exit codes, as docker', () => {
    it('127 for a command not in the image, 126 for one not executable: one line', async () => {
      const notFound = await run(['run', '--rm', 'good.tar', 'nosuchcmd']);
      expect(notFound.code).toBe(127);
      expect(notFound.stderr).toMatch(/^pd: .*could not start the container: .*nosuchcmd/m);
      const notExec = await run(['run', '--rm', 'good.tar', '/app/hello.txt']);
      expect(notExec.code).toBe(126);
      expect(hasStackTrace(notFound.stderr + notExec.stderr)).toBe(false);
    });
  });
});
