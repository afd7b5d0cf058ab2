// The digest of every output a phase reports (status.output.sha256 / status.ticket.sha256): a file's is the sha256 of
// its bytes; a directory's is the sha256 of what `sha256sum` prints for its regular files, one line
// `<hex>  <relative/path>\n` per file in byte order of the path, so a user checks it with
//   cd dir && find . -type f | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum | sha256sum
// (the pipeline, through xargs, suits the names outputs have: no blanks, quotes or backslashes).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface Digest {
  sha256: string;
  /** Total bytes of the file, or of the directory's files. */
  bytes: number;
}

async function sha256Of(path: string): Promise<{ hex: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { hex: hash.digest('hex'), bytes };
}

/** Regular files under `dir` (symbolic links are not followed, as `find -type f`), as '/'-joined relative paths. */
async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await filesUnder(dir, relative)));
    else if (entry.isFile()) out.push(relative);
  }
  return out;
}

/**
 * `known`: digests of files under a directory `path` (by relative path) that the caller hashed while writing them,
 * taken instead of reading those files again; every other file is read.
 */
export async function digestPath(path: string, known: ReadonlyMap<string, Digest> = new Map()): Promise<Digest> {
  if (!(await stat(path)).isDirectory()) {
    const { hex, bytes } = await sha256Of(path);
    return { sha256: hex, bytes };
  }
  const names = (await filesUnder(path)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const listing = createHash('sha256');
  let bytes = 0;
  for (const name of names) {
    const given = known.get(name);
    const file = given ? { hex: given.sha256, bytes: given.bytes } : await sha256Of(join(path, name));
    bytes += file.bytes;
    listing.update(`${file.hex}  ${name}\n`);
  }
  return { sha256: listing.digest('hex'), bytes };
}
