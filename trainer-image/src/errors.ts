// Typed failures of the LoTA phases; the CLI maps each to its exit code and reason (docs/trainer-contract.md).
import { EXIT, type TrainerReason } from '@lota/api';

/** The spec or the command line asks for something impossible. Permanent: exit 10. */
export class InvalidSpecError extends Error {
  override readonly name = 'InvalidSpecError';
  readonly exitCode = EXIT.invalidSpec;
  readonly reason: TrainerReason = 'InvalidSpec';
}

/** A ticket or mask was made for another base model. Permanent: exit 12. */
export class BaseModelMismatchError extends Error {
  override readonly name = 'BaseModelMismatchError';
  readonly exitCode = EXIT.incompatibleArtifact;
  readonly reason: TrainerReason = 'BaseModelMismatch';
}
