// The one error type for artifacts that cannot be read as what they claim to be (models, tickets, masks).
// Retrying cannot help, so the CLI maps it to the permanent exit code EXIT.invalidInput (11) and `reason`.
import type { TrainerReason } from '@lota/api/trainer-contract';

export type ArtifactReason = Extract<TrainerReason, 'InvalidModel' | 'InvalidTicket'>;

export class InvalidArtifactError extends Error {
  override readonly name = 'InvalidArtifactError';
  readonly file: string;
  readonly tensor: string | undefined;
  readonly reason: ArtifactReason;

  constructor(
    file: string,
    problem: string,
    options: { tensor?: string; reason?: ArtifactReason; cause?: unknown } = {},
  ) {
    const where = options.tensor === undefined ? file : `${file}: tensor '${options.tensor}'`;
    super(`${where}: ${problem}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.file = file;
    this.tensor = options.tensor;
    this.reason = options.reason ?? 'InvalidModel';
  }
}
