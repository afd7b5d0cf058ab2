// Failure → (exit code, reason) as docs/trainer-contract.md lays down. Permanent causes (bad spec, bad input, a
// ticket for another base) get 10–12 so the Job fails at once; I/O hiccups get 20; anything unexpected 1.
import { ArtifactUriError, EXIT, type TrainerReason, ValidationError } from '@lota/api';
import { BackendError } from '../backend/select.ts';
import { DatasetError } from '../data/jsonl.ts';
import { BaseModelMismatchError, InvalidSpecError } from '../errors.ts';
import { InvalidArtifactError } from '../io/errors.ts';
import { ConfigError } from '../model/config.ts';
import { StorageError } from '../storage/errors.ts';
import { TokenizerError } from '../tokenizer/tokenizer.ts';

export interface Classified {
  exitCode: number;
  reason: TrainerReason;
}

const TRANSIENT_CODES = new Set([
  'EIO',
  'EAGAIN',
  'EBUSY',
  'ETIMEDOUT',
  'ECONNRESET',
  'ESTALE',
  'ENOSPC',
  'EMFILE',
  'ENFILE',
]);

export function classify(error: unknown): Classified {
  if (error instanceof InvalidSpecError || error instanceof ValidationError || error instanceof ArtifactUriError) {
    return { exitCode: EXIT.invalidSpec, reason: 'InvalidSpec' };
  }
  if (error instanceof StorageError) {
    return error.permanent
      ? { exitCode: EXIT.invalidInput, reason: error.reason }
      : { exitCode: EXIT.transientIo, reason: 'TransientIOError' };
  }
  if (error instanceof BackendError) return { exitCode: EXIT.invalidSpec, reason: 'InvalidSpec' };
  if (error instanceof BaseModelMismatchError)
    return { exitCode: EXIT.incompatibleArtifact, reason: 'BaseModelMismatch' };
  if (error instanceof InvalidArtifactError) return { exitCode: EXIT.invalidInput, reason: error.reason };
  if (error instanceof DatasetError) return { exitCode: EXIT.invalidInput, reason: 'InvalidDataset' };
  if (error instanceof ConfigError || error instanceof TokenizerError)
    return { exitCode: EXIT.invalidInput, reason: 'InvalidModel' };
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (typeof code === 'string' && TRANSIENT_CODES.has(code))
    return { exitCode: EXIT.transientIo, reason: 'TransientIOError' };
  if (code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR' || code === 'EISDIR') {
    return { exitCode: EXIT.invalidInput, reason: 'InvalidModel' };
  }
  return { exitCode: EXIT.internal, reason: 'InternalError' };
}
