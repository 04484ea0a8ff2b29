import { defineCommand } from '../command.js';
import { bashCompletion, zshCompletion } from '../completion.js';
import { UsageError } from '../output/errors.js';
import { loadAll } from './index.js';

export const completion = defineCommand({
  name: 'completion',
  usage: 'bash|zsh',
  args: [{ name: 'SHELL' }],
  options: {},
  examples: [
    { note: 'bash, for this shell', command: 'source <(pd completion bash)' },
    {
      note: 'bash, for every new shell',
      command: 'pd completion bash > ~/.local/share/bash-completion/completions/pd',
    },
    { note: 'zsh (after compinit in ~/.zshrc)', command: 'source <(pd completion zsh)' },
  ],
  async run(ctx, { args }) {
    const shell = args.SHELL!;
    const commands = (await loadAll()).flatMap((g) => g.commands);
    if (shell === 'bash') ctx.io.stdout.write(bashCompletion(commands));
    else if (shell === 'zsh') ctx.io.stdout.write(zshCompletion(commands));
    else throw new UsageError(`no completion for shell "${shell}"`, 'pd completes bash and zsh');
    return 0;
  },
});
