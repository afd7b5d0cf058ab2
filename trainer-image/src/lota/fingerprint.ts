// Identity of a base model, so a ticket is never applied to weights it was not trained against: sha256 over every
// tensor's name, dtype, shape and raw stored bytes, in sorted name order, read one tensor at a time.
import { createHash } from 'node:crypto';
import type { Checkpoint } from '../io/checkpoint.ts';

export const FINGERPRINT_ALGORITHM = 'sha256:names+dtypes+shapes+bytes';

export async function fingerprintCheckpoint(checkpoint: Checkpoint): Promise<string> {
  const hash = createHash('sha256');
  for (const name of checkpoint.names().sort()) {
    const info = checkpoint.info(name);
    hash.update(`${JSON.stringify([name, info.dtype, info.shape])}\n`);
    const data = await checkpoint.read(name);
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest('hex');
}
