// Identity of a base model, so a ticket is never applied to weights it was not trained against: sha256 over every
// tensor's name, dtype, shape and raw stored bytes, in sorted name order, read one tensor at a time.
import { createHash } from 'node:crypto';
import type { Checkpoint } from '../io/checkpoint.ts';
import type { Dtype, TensorArray } from '../io/dtype.ts';
import { ThreadHash } from '../io/thread-hash.ts';

export const FINGERPRINT_ALGORITHM = 'sha256:names+dtypes+shapes+bytes';

/** The order the fingerprint takes the tensors in (a reader that streams in it can fingerprint as it goes). */
export function fingerprintOrder(names: readonly string[]): string[] {
  return [...names].sort();
}

/** The fingerprint fed one tensor at a time, in fingerprintOrder. */
export class Fingerprinter {
  private readonly hash = createHash('sha256');

  add(name: string, info: { dtype: Dtype; shape: readonly number[] }, data: TensorArray): void {
    this.begin(name, info);
    this.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  /** add() for a tensor read in pieces: begin, then update with each piece of its stored bytes in order. */
  begin(name: string, info: { dtype: Dtype; shape: readonly number[] }): void {
    this.hash.update(tensorLine(name, info));
  }

  update(bytes: Uint8Array): void {
    this.hash.update(bytes);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/** What the fingerprint takes before a tensor's bytes. */
function tensorLine(name: string, info: { dtype: Dtype; shape: readonly number[] }): string {
  return `${JSON.stringify([name, info.dtype, info.shape])}\n`;
}

/**
 * Fingerprinter's digest, computed on a worker thread (ThreadHash) beside a reader that streams the checkpoint. Fed in
 * the same order; each promise resolves once its bytes are hashed (until then they must stay unchanged).
 */
export class ThreadFingerprinter {
  private readonly hash = new ThreadHash();

  add(name: string, info: { dtype: Dtype; shape: readonly number[] }, data: TensorArray): Promise<void> {
    this.begin(name, info);
    return this.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  begin(name: string, info: { dtype: Dtype; shape: readonly number[] }): void {
    // a failure here fails every later update and the digest too
    this.hash.update(Buffer.from(tensorLine(name, info))).catch(() => {});
  }

  update(bytes: Uint8Array): Promise<void> {
    return this.hash.update(bytes);
  }

  digest(): Promise<string> {
    return this.hash.digest();
  }

  close(): Promise<void> {
    return this.hash.close();
  }
}

export async function fingerprintCheckpoint(checkpoint: Checkpoint): Promise<string> {
  const fingerprint = new Fingerprinter();
  for (const name of fingerprintOrder(checkpoint.names()))
    fingerprint.add(name, checkpoint.info(name), await checkpoint.read(name));
  return fingerprint.digest();
}
