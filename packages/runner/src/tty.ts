import { ToolNotFoundError } from './errors.js';
import { shellQuote, which } from './tools.js';

// A container terminal. runc and crun, when they run a container in the foreground with
// `process.terminal: true` and no --console-socket, create the pty themselves, receive its master
// over their own socketpair, put the host terminal (the first of stderr, stdout, stdin that is
// one) in raw mode, copy both ways and resize on SIGWINCH. So pd only has to hand them a real
// terminal and forward SIGWINCH: no SCM_RIGHTS in Node, no native module.
// When pd itself has no terminal (a pipe, CI), the runtime gets one from util-linux `script`,
// which allocates a pty pair and copies it to pd's stdio, as `docker run -t` does without a TTY.

/** Whether a tty must be provided for the runtime: `tty` asked and none of the inherited fds is a terminal. */
export function needsPty(
  tty: boolean,
  inherited: { stdin: boolean; stdout: boolean; stderr: boolean },
): boolean {
  if (!tty) return false;
  const isTty = (fd: 0 | 1 | 2) => {
    const s = fd === 0 ? process.stdin : fd === 1 ? process.stdout : process.stderr;
    return s.isTTY === true;
  };
  return !((inherited.stdin && isTty(0)) || (inherited.stdout && isTty(1)) || (inherited.stderr && isTty(2)));
}

/** Wrap a command so that it runs on a fresh pty (util-linux script). */
export function withPty(cmd: { file: string; args: string[] }): {
  file: string;
  args: string[];
  env: NodeJS.ProcessEnv;
} {
  const script = which('script');
  if (!script)
    throw new ToolNotFoundError('script', 'give the container a terminal when pd has none', 'bsdutils');
  const line = [cmd.file, ...cmd.args].map(shellQuote).join(' ');
  return {
    file: script,
    args: ['--quiet', '--return', '--flush', '--echo', 'never', '--command', line, '/dev/null'],
    env: { ...process.env, SHELL: '/bin/sh' },
  };
}
