// Typed failures of the trainer's phases; cli/errors.ts maps each to its exit code and reason
// (docs/trainer-contract.md).

/** The spec or the command line asks for something impossible. Permanent: exit 10. */
export class InvalidSpecError extends Error {
  override readonly name = 'InvalidSpecError';
}

/** A ticket or mask was made for another base model. Permanent: exit 12. */
export class BaseModelMismatchError extends Error {
  override readonly name = 'BaseModelMismatchError';
}
