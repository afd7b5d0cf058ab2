// A container's view of the filesystem, mapped onto the host. Each container gets a local root directory; every
// volumeMount becomes a symlink at <root><mountPath> to the volume's local directory, and the termination message
// file lives at <root><terminationMessagePath>. Paths that name a mount, a directory above one, or the termination
// file, wherever they appear in the command, args, env or workingDir, are rewritten to <root><path>; other absolute
// paths (/bin/sh, ...) are the host's.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';

export interface Mount {
  containerPath: string;
  localPath: string;
}

export interface ContainerFs {
  root: string;
  terminationFile: string;
  /** Local path of a path inside the container (for image ENV templates). */
  toLocal(containerPath: string): string;
  /** `text` with every reference to a mapped container path replaced by its local path. */
  rewrite(text: string): string;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function makeContainerFs(root: string, mounts: Mount[], terminationMessagePath: string): ContainerFs {
  mkdirSync(root, { recursive: true });
  const mapped = new Set<string>([terminationMessagePath]);
  const parents = new Set<string>();
  for (const m of mounts) {
    const at = posix.normalize(m.containerPath);
    if (!at.startsWith('/')) throw new Error(`mountPath ${JSON.stringify(m.containerPath)} is not absolute`);
    mkdirSync(m.localPath, { recursive: true });
    mkdirSync(dirname(join(root, at)), { recursive: true });
    symlinkSync(m.localPath, join(root, at));
    mapped.add(at);
    for (let p = posix.dirname(at); p !== '/'; p = posix.dirname(p)) parents.add(p);
  }
  const terminationFile = join(root, terminationMessagePath);
  mkdirSync(dirname(terminationFile), { recursive: true });
  writeFileSync(terminationFile, '');
  const alternatives = (paths: Set<string>) =>
    [...paths]
      .sort((a, b) => b.length - a.length)
      .map(escapeRegExp)
      .join('|');
  for (const p of mapped) parents.delete(p);
  // A mount (or the termination file) matches with anything below it; a directory above a mount only by itself.
  const below = `(?:${alternatives(mapped)})(?=$|[^\\w.\\-])`;
  const above = parents.size > 0 ? `|(?:${alternatives(parents)})(?=/?(?:$|[^\\w.\\-/]))` : '';
  const pattern = new RegExp(`(?<![\\w.\\-/])(?:${below}${above})`, 'g');
  return {
    root,
    terminationFile,
    toLocal(containerPath) {
      const local = join(root, posix.normalize(containerPath));
      mkdirSync(dirname(local), { recursive: true });
      return local;
    },
    rewrite: (text) => text.replace(pattern, (p) => join(root, p)),
  };
}
