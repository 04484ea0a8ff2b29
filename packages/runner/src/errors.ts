import { PdError } from '@pd/oci-types';

const INSTALL_HINT: Record<string, string> = {
  runc: 'install it (Debian/Ubuntu: apt-get install runc) or choose another runtime with --runtime',
  crun: 'install it (Debian/Ubuntu: apt-get install crun) or choose another runtime with --runtime',
  docker:
    'install the Docker CLI (Debian/Ubuntu: apt-get install docker.io) and make DOCKER_HOST point at an engine',
};

/** The container runtime (runc, crun, docker) is not on PATH. */
export class RuntimeNotFoundError extends PdError {
  readonly runtime: string;
  constructor(runtime: string, tried?: string) {
    super(`container runtime "${runtime}" not found${tried ? ` (${tried})` : ''}`, {
      code: 'RUNTIME_NOT_FOUND',
      hint:
        INSTALL_HINT[runtime] ??
        'give --runtime runc, crun or docker, or the absolute path of an OCI runtime',
    });
    this.runtime = runtime;
  }
}

/** A host tool the runner needs (unshare, mount) is missing. */
export class ToolNotFoundError extends PdError {
  readonly tool: string;
  constructor(tool: string, purpose: string, pkg: string) {
    super(`${tool} not found, needed to ${purpose}`, {
      code: 'TOOL_NOT_FOUND',
      hint: `install it (Debian/Ubuntu: apt-get install ${pkg})`,
    });
    this.tool = tool;
  }
}

/** `--user name` (or `name:group`) names no entry of the image's /etc/passwd. */
export class UserNotFoundError extends PdError {
  readonly user: string;
  constructor(user: string, why: string) {
    super(`unable to find user ${user}: ${why}`, {
      code: 'USER_NOT_FOUND',
      hint: 'give a user that the image defines in /etc/passwd, or a numeric uid[:gid]',
    });
    this.user = user;
  }
}

/** The group part of `--user user:group` names no entry of the image's /etc/group. */
export class GroupNotFoundError extends PdError {
  readonly group: string;
  constructor(group: string, why: string) {
    super(`unable to find group ${group}: ${why}`, {
      code: 'GROUP_NOT_FOUND',
      hint: 'give a group that the image defines in /etc/group, or a numeric gid',
    });
    this.group = group;
  }
}

/** Neither the image nor the options say what to run. */
export class NoCommandError extends PdError {
  constructor() {
    super('no command specified', {
      code: 'NO_COMMAND',
      hint: 'the image has no Entrypoint or Cmd (or --entrypoint "" dropped them): give a command',
    });
  }
}

/** A run option is malformed (`-v`, `-e`, `--env-file`, `--name`...). */
export class InvalidOptionError extends PdError {
  readonly option: string;
  constructor(option: string, problem: string, hint?: string) {
    super(`invalid ${option}: ${problem}`, { code: 'INVALID_OPTION', ...(hint ? { hint } : {}) });
    this.option = option;
  }
}

/** `--name` is taken by a container that still exists (kept because it ran without --rm). */
export class ContainerExistsError extends PdError {
  readonly container: string;
  constructor(name: string) {
    super(`a container named "${name}" already exists`, {
      code: 'CONTAINER_EXISTS',
      hint: 'remove it (removeContainer / pd rm) or choose another --name',
    });
    this.container = name;
  }
}

/** A container name or id (prefix) that names no container on disk. */
export class ContainerNotFoundError extends PdError {
  readonly container: string;
  constructor(name: string) {
    super(`no container named "${name}"`, {
      code: 'CONTAINER_NOT_FOUND',
      hint: 'pd ps -a lists the containers (a unique prefix of an id is enough)',
    });
    this.container = name;
  }
}

/** `removeContainer` of a container that runs (its `pd run` is alive, or the runtime has it running). */
export class ContainerRunningError extends PdError {
  readonly container: string;
  constructor(name: string) {
    super(`container "${name}" is running`, {
      code: 'CONTAINER_RUNNING',
      hint: 'stop it first (pd stop), or remove it with force (pd rm -f)',
    });
    this.container = name;
  }
}

/** A name or id prefix that fits more than one container. */
export class AmbiguousContainerError extends PdError {
  readonly container: string;
  readonly matches: string[];
  constructor(prefix: string, matches: string[]) {
    super(`"${prefix}" names ${matches.length} containers`, {
      code: 'CONTAINER_AMBIGUOUS',
      hint: 'give more characters of the id, or the full name',
    });
    this.container = prefix;
    this.matches = matches;
  }
}

/** `exec`, `kill` of a container that does not run. */
export class ContainerNotRunningError extends PdError {
  readonly container: string;
  constructor(name: string) {
    super(`container "${name}" is not running`, {
      code: 'CONTAINER_NOT_RUNNING',
      hint: 'pd ps -a lists every container with its state; start a new one with pd run -d',
    });
    this.container = name;
  }
}

/** `containerLogs` of a container run in the foreground: its output went to the terminal. */
export class NoLogError extends PdError {
  readonly container: string;
  constructor(name: string) {
    super(`container "${name}" has no log: it ran in the foreground, its output went to pd run's stdout`, {
      code: 'NO_LOG',
      hint: 'run it detached (pd run -d) to keep its output in a log',
    });
    this.container = name;
  }
}

/**
 * The runtime could not start the container process. `exitCode` follows docker: 127 when the
 * command does not exist, 126 when it cannot be executed, 125 for any other start failure.
 */
export class ContainerStartError extends PdError {
  readonly runtime: string;
  readonly exitCode: 125 | 126 | 127;
  readonly detail: string;
  /** `reason` says which of the three it was when `exitCode` does not (docker exec gives 126 to all). */
  constructor(
    runtime: string,
    detail: string,
    exitCode: 125 | 126 | 127,
    reason: 125 | 126 | 127 = exitCode,
  ) {
    super(`${runtime} could not start the container: ${detail}`, {
      code: reason === 127 ? 'COMMAND_NOT_FOUND' : reason === 126 ? 'COMMAND_NOT_EXECUTABLE' : 'START_FAILED',
      hint:
        reason === 127
          ? 'the command is not in the image (check the path, PATH and the entrypoint)'
          : reason === 126
            ? 'the command exists but cannot be executed (mode, interpreter line, architecture)'
            : 'see the runtime message above; --verbose shows the bundle and the command line',
    });
    this.runtime = runtime;
    this.detail = detail;
    this.exitCode = exitCode;
  }
}

/** Running as a non-root user needs user namespaces, which this kernel or sysctl forbids. */
export class RootlessUnavailableError extends PdError {
  constructor(why: string) {
    super(`cannot run containers without root: ${why}`, {
      code: 'ROOTLESS_UNAVAILABLE',
      hint: 'run as root, or enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces>0)',
    });
  }
}

/** A resource limit needs a cgroup controller this machine does not have (or pd cannot reach). */
export class CgroupUnavailableError extends PdError {
  readonly option: string;
  readonly controller: string;
  constructor(option: string, controller: string, why: string) {
    super(`${option} cannot be enforced: ${why}`, {
      code: 'CGROUP_UNAVAILABLE',
      hint: `enable the ${controller} controller (cgroup v2: cgroup.subtree_control; v1: mount its hierarchy), or run without ${option}`,
    });
    this.option = option;
    this.controller = controller;
  }
}

/** Something the caller asked for cannot be done in rootless mode (another uid, devices...). */
export class RootlessLimitError extends PdError {
  constructor(what: string, hint?: string) {
    super(`not possible without root: ${what}`, {
      code: 'ROOTLESS_LIMIT',
      hint:
        hint ??
        'a rootless container maps your uid and gid to root, and your /etc/subuid and /etc/subgid ranges (through newuidmap) to the other ids; run as root for more',
    });
  }
}

/** A tool pd runs in the rootless user namespace (GNU tar, find, rm) failed; its stderr says why. */
export class UserNamespaceToolError extends PdError {
  constructor(tool: string, detail: string) {
    super(`${tool} (in the rootless user namespace): ${detail}`, { code: 'USERNS_TOOL_FAILED' });
  }
}

/** Loading the image into the Docker engine, or talking to it, failed. */
export class DockerError extends PdError {
  constructor(what: string, detail: string) {
    super(`docker ${what} failed: ${detail.trim().split('\n').slice(-3).join(' / ')}`, {
      code: 'DOCKER_FAILED',
      hint: 'check that DOCKER_HOST (or the dockerHost option) points at a running engine',
    });
  }
}

/** `pull: 'never'` (or a moved tag) and the reference is not known on this machine. */
export class ImageNotLocalError extends PdError {
  readonly ref: string;
  constructor(ref: string, why = 'it was never pulled on this machine') {
    super(`image ${ref} is not available locally: ${why}`, {
      code: 'IMAGE_NOT_LOCAL',
      hint: 'run with pull "missing" or "always" (--pull) to fetch it',
    });
    this.ref = ref;
  }
}

/** The image is for another platform than this machine's, and no emulator is registered for it. */
export class PlatformNotRunnableError extends PdError {
  constructor(
    readonly image: string,
    readonly host: string,
  ) {
    super(`a ${image} image cannot run on this ${host} machine`, {
      code: 'PLATFORM_NOT_RUNNABLE',
      hint: `register an emulator for it (apt-get install qemu-user-static binfmt-support), or run the ${host} image of the index (--platform ${host})`,
    });
  }
}
