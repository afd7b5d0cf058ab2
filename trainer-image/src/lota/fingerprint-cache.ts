// A base model's fingerprint (fingerprint.ts), remembered by the identity of its files, so that a merge over a base
// whose fingerprint was taken before need not hash every byte of it again. A record holds, for each weight file, its
// path, device, inode, size, modification and status-change times (nanoseconds), and the fingerprint; it is used
// only while all of them are still what they were. Writing a file's data, truncating it or changing its times all
// set its status-change time (ctime) to the present, which a process cannot set back (only changing the system clock
// can), and a file put in its place is another inode, so a changed file never matches its record: the ticket check
// that the fingerprint serves stays a check of the bytes read.
// Two guards make that hold for changes made close to the hashing (as git guards its index against "racily clean"
// files): a record is written only when every file's ctime and mtime lie RACY_MARGIN_NS before the stat taken
// before hashing (a change within the same timestamp tick as an earlier one could leave ctime unchanged), and only
// when the files' identities after the hashing equal those before it. A merge that takes a recorded fingerprint
// checks the identities again after its pass (verifyUnchanged). What this trusts: that ctime moves when a file
// changes, which local filesystems give; a network filesystem that caches attributes (NFS's actimeo) may not, and
// bytes changed beneath the filesystem (a write to the raw device, bit rot) go unseen, as by any stat-based cache.
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FINGERPRINT_ALGORITHM } from './fingerprint.ts';

/** How old a file's last change must be for its fingerprint to be recorded. */
export const RACY_MARGIN_NS = 2_000_000_000n;

interface FileIdentity {
  path: string;
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
}

interface FingerprintRecord {
  algorithm: string;
  files: FileIdentity[];
  fingerprint: string;
}

/** The base's files as they are now: what a lookup found, to record against or verify after the pass. */
export interface Identified {
  opened: readonly OpenFile[];
  files: FileIdentity[];
  /** Wall clock (ns since the epoch) just before the files were looked at. */
  takenAtNs: bigint;
  /** The recorded fingerprint, when these files match a record. */
  fingerprint: string | undefined;
}

/** A weight file as opened for reading: its identity is taken from the open file, the one the bytes come from. */
export interface OpenFile {
  path: string;
  stat(): Promise<BigIntStats>;
}

async function identify(opened: readonly OpenFile[]): Promise<FileIdentity[]> {
  const files: FileIdentity[] = [];
  for (const file of opened) {
    const s = await file.stat();
    files.push({
      path: resolve(file.path),
      dev: String(s.dev),
      ino: String(s.ino),
      size: String(s.size),
      mtimeNs: String(s.mtimeNs),
      ctimeNs: String(s.ctimeNs),
    });
  }
  return files;
}

const sameFiles = (a: readonly FileIdentity[], b: readonly FileIdentity[]) => JSON.stringify(a) === JSON.stringify(b);

export class FingerprintCache {
  readonly dir: string;
  private readonly clockNs: () => bigint;

  /** `clockNs`: the wall clock in ns since the epoch (tests move it). */
  constructor(dir: string, clockNs: () => bigint = () => BigInt(Date.now()) * 1_000_000n) {
    this.dir = dir;
    this.clockNs = clockNs;
  }

  /** One record per set of files (by their real paths). */
  private recordPath(files: readonly FileIdentity[]): string {
    const key = createHash('sha256')
      .update(files.map((f) => f.path).join('\0'))
      .digest('hex');
    return join(this.dir, `${key}.json`);
  }

  /** The files' identities now, with their recorded fingerprint when a record matches them all. */
  async lookup(opened: readonly OpenFile[]): Promise<Identified> {
    const takenAtNs = this.clockNs();
    const files = await identify(opened);
    let fingerprint: string | undefined;
    try {
      const record = JSON.parse(await readFile(this.recordPath(files), 'utf8')) as FingerprintRecord;
      if (record.algorithm === FINGERPRINT_ALGORITHM && sameFiles(record.files, files))
        fingerprint = record.fingerprint;
    } catch {
      // no record, or an unreadable one: the fingerprint is taken again
    }
    return { opened, files, takenAtNs, fingerprint };
  }

  /**
   * Records `fingerprint`, hashed from the files `before` identified, unless a file changed since, or changed too
   * shortly before to tell a later change apart. Returns whether it recorded.
   */
  async record(before: Identified, fingerprint: string): Promise<boolean> {
    const old = before.takenAtNs - RACY_MARGIN_NS;
    if (before.files.some((f) => BigInt(f.ctimeNs) > old || BigInt(f.mtimeNs) > old)) return false;
    if (!sameFiles(await identify(before.opened), before.files)) return false;
    const record: FingerprintRecord = { algorithm: FINGERPRINT_ALGORITHM, files: before.files, fingerprint };
    const path = this.recordPath(before.files);
    await mkdir(this.dir, { recursive: true });
    const partial = `${path}.${process.pid}.partial`;
    await writeFile(partial, `${JSON.stringify(record)}\n`);
    await rename(partial, path);
    return true;
  }
}

/** Throws unless the files are still those `before` identified (a recorded fingerprint was taken for them). */
export async function verifyUnchanged(before: Identified): Promise<void> {
  if (!sameFiles(await identify(before.opened), before.files)) {
    throw new Error('the base model files changed while they were being read');
  }
}
