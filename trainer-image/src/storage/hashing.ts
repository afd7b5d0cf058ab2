// Streaming a response body to a file while hashing it, and the two digests sources report: sha256 (Hub LFS files,
// S3 objects we wrote) and the git blob id (small Hub files kept in git).
import { createHash, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface Written {
  bytes: number;
  sha256: string;
  gitOid: string;
}

/** Writes `body` to `path`; returns its size, sha256 and git blob id (`sha1("blob <size>\0" + bytes)`, needs size). */
export async function writeHashed(
  body: ReadableStream<Uint8Array> | NodeJS.ReadableStream,
  path: string,
  expectedSize: number,
): Promise<Written> {
  const sha256 = createHash('sha256');
  const git: Hash = createHash('sha1').update(`blob ${expectedSize}\0`);
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      sha256.update(chunk);
      git.update(chunk);
      done(null, chunk);
    },
  });
  const source =
    body instanceof Readable || typeof (body as NodeJS.ReadableStream).pipe === 'function'
      ? (body as NodeJS.ReadableStream)
      : Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>);
  await pipeline(source, tap, createWriteStream(path));
  return { bytes, sha256: sha256.digest('hex'), gitOid: git.digest('hex') };
}
