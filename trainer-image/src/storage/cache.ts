// The content-keyed download cache. An entry is a file whose path is derived from what identifies its content (a Hub
// commit sha and path, an S3 ETag); it is written to a temporary name in the same directory, verified, and renamed
// into place, so a file under its final name is always complete and verified. Two pods filling the same entry at once
// each download to their own temporary file and the later rename replaces an identical file: no locks, no partial
// reads, safe on a shared ReadWriteMany volume.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export function shortHash(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 20);
}

/** Cache directory of one resolved input (one Hub commit, one S3 listing or object). */
export function entryDir(cacheDir: string, ...key: string[]): string {
  return join(cacheDir, ...key);
}

/**
 * Makes sure `dest` holds `size` verified bytes: returns false when it already does, else runs `download(tmp)` (which
 * must verify what it wrote) and renames the result into place.
 */
export async function fill(dest: string, size: number, download: (tmp: string) => Promise<void>): Promise<boolean> {
  const existing = await stat(dest).catch(() => undefined);
  if (existing?.isFile() && existing.size === size) return false;
  await mkdir(dirname(dest), { recursive: true });
  const tmp = `${dest}.part-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await download(tmp);
    await rename(tmp, dest);
  } finally {
    await rm(tmp, { force: true });
  }
  return true;
}
