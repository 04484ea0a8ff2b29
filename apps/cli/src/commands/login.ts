import { PdError } from '@pd/oci-types';
import { defineCommand } from '../command.js';
import { registerSecret, UsageError } from '../output/errors.js';
import { prompt } from '../output/prompt.js';
import { parseRegistry } from './registry-arg.js';
import { readStdinText } from './shared.js';

export const login = defineCommand({
  name: 'login',
  usage: 'REGISTRY -u USER (-p PASSWORD | --password-stdin)',
  description:
    'Credentials are verified first, then stored the way docker stores them: through the credential\n' +
    'helper named in $DOCKER_CONFIG/config.json (default ~/.docker/config.json), else in that file.\n' +
    'docker, skopeo, crane and pd all read them. On a terminal, a missing user or password is asked for.',
  args: [{ name: 'REGISTRY' }],
  options: {
    username: { type: 'string', short: 'u', value: 'USER', description: 'user name' },
    password: {
      type: 'string',
      short: 'p',
      value: 'PASSWORD',
      description: 'password or token (visible in shell history and ps: prefer --password-stdin)',
    },
    'password-stdin': { type: 'boolean', description: 'read the password or token from stdin' },
  },
  json: '{ "registry": "ghcr.io", "storedIn": "/root/.docker/config.json", "identityToken": false }',
  examples: [
    {
      note: 'log in with a token from the environment',
      command: 'echo "$GITHUB_TOKEN" | pd login ghcr.io -u me --password-stdin',
    },
    {
      note: 'a local registry with htpasswd auth (asks for the password)',
      command: 'pd login localhost:5000 -u admin',
    },
  ],
  async run(ctx, { args, values }) {
    const registry = parseRegistry(args.REGISTRY!);
    const { stdin, stderr } = ctx.io;
    const tty = stdin.isTTY === true;
    if (values.password !== undefined && values['password-stdin']) {
      throw new UsageError('give either --password or --password-stdin, not both');
    }
    let username = values.username;
    if (username === undefined) {
      if (!tty || values['password-stdin']) throw new UsageError('missing --username (-u)');
      username = await prompt(stdin, stderr, 'Username: ', false);
    }
    if (username === '') throw new UsageError('the user name is empty');
    let password = values.password;
    if (password !== undefined) {
      registerSecret(password);
      ctx.warn(
        'a password on the command line can end up in shell history and ps output; prefer --password-stdin',
      );
    } else if (values['password-stdin']) {
      password = await readStdinText(stdin);
    } else if (tty) {
      password = await prompt(stdin, stderr, 'Password: ', true);
    } else {
      throw new UsageError('missing password: give --password-stdin (or -p) when stdin is not a terminal');
    }
    registerSecret(password);
    if (password === '') throw new UsageError('the password is empty');
    const client = await ctx.registry();
    let result: Awaited<ReturnType<typeof client.login>>;
    try {
      result = await client.login(registry, username, password, { signal: ctx.signal });
    } catch (e) {
      // The registry's hint says "run pd login", which is what just failed.
      const { AuthError } = await import('@pd/registry');
      if (!(e instanceof AuthError)) throw e;
      throw new PdError(e.message, {
        code: e.code,
        hint: 'check the user name and the password or token (a token must be valid and allowed to pull); nothing was stored',
        cause: e,
      });
    }
    if (ctx.flags.json) ctx.printJson(result);
    else ctx.print(`logged in to ${result.registry} (credentials stored in ${result.storedIn})`);
    return 0;
  },
});
