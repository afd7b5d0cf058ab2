import { describe, expect, it } from 'vitest';
import { EXIT, isPermanentExit } from '../src/trainer-contract.ts';

describe('trainer exit codes', () => {
  it('treats invalid spec, input and artifacts as permanent and everything else as retryable', () => {
    expect([EXIT.invalidSpec, EXIT.invalidInput, EXIT.incompatibleArtifact].every(isPermanentExit)).toBe(true);
    expect([EXIT.ok, EXIT.internal, EXIT.transientIo, 137].some(isPermanentExit)).toBe(false);
  });
});
