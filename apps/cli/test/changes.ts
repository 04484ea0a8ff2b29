// Changes a container makes, shared by the tests that compare pd with docker on them.
import { docker } from '@pd/test-fixtures';

/** Changes of every kind: a file added (owned, moded, hardlinked), changed, deleted; a directory recreated. */
export const COMMIT_SCRIPT = [
  'rm -rf /data && mkdir /data && echo again > /data/again',
  'rm /etc/app.conf.link && echo changed > /etc/app.conf',
  'echo new > /etc/new && chown 1000:1000 /etc/new && chmod 640 /etc/new && ln /etc/new /etc/new-link',
  'mkdir -p /opt/app/sub && ln -s ../run.sh /opt/app/run && rm /opt/run.sh',
].join(' && ');

/** A file installed, a user created, a base file deleted: what a Dockerfile RUN typically does. */
export const RUN_STEP =
  'echo built > /usr/local/built.txt' +
  ' && echo builder:x:2000:2000::/home/builder:/bin/sh >> /etc/passwd && echo builder:x:2000: >> /etc/group' +
  ' && mkdir -p /home/builder && chown 2000:2000 /home/builder && rm /etc/app.conf';

/**
 * `script` run by docker in a container `name` of `image` (no network), committed as the image
 * `<name>:docker`, which it returns: what a pd commit of the same changes is compared with.
 */
export async function dockerCommitted(image: string, script: string, name: string): Promise<string> {
  await docker(['run', '--name', name, '--network', 'none', image, 'sh', '-c', script]);
  await docker(['commit', name, `${name}:docker`]);
  return `${name}:docker`;
}
