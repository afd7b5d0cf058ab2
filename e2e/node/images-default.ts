// The images the local node knows in this repository's tests: the trainer image runs the trainer CLI from this
// checkout; small shell images run their commands on the host.
import { fileURLToPath } from 'node:url';
import type { ImageMapping } from './images.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export const TRAINER_IMAGE = 'ghcr.io/lota-operator/lota-trainer';
export const FLAKY_TRAINER_IMAGE = 'lota-e2e/flaky-trainer';
export const SCRIPTED_TRAINER_IMAGE = 'lota-e2e/scripted-trainer';

export function defaultImages(): ImageMapping[] {
  const trainer: Omit<ImageMapping, 'match'> = {
    entrypoint: ['lota-trainer'],
    programs: {
      'lota-trainer': [`${repoRoot}node_modules/.bin/node`, `${repoRoot}trainer-image/src/cli/lota-trainer.ts`],
    },
    // The image's baked-in paths (docs/trainer-contract.md), inside the container's local root.
    env: {
      LOTA_PVC_ROOT: '{path:/mnt/pvc}',
      LOTA_TERMINATION_LOG: '{path:/dev/termination-log}',
      LOTA_SCRATCH_DIR: '{path:/scratch}',
      TMPDIR: '{path:/tmp}',
    },
  };
  const cli = trainer.programs?.['lota-trainer'] ?? [];
  return [
    { match: TRAINER_IMAGE, ...trainer },
    // A test image: fails each phase's first attempt with exit 20 (transient), then runs the real trainer.
    {
      match: FLAKY_TRAINER_IMAGE,
      ...trainer,
      programs: { 'lota-trainer': ['sh', `${repoRoot}e2e/fixtures/flaky-trainer.sh`, ...cli] },
    },
    // A test image: keeps the trainer contract's outward behaviour without training (e2e/fixtures/scripted-trainer.ts).
    {
      match: SCRIPTED_TRAINER_IMAGE,
      ...trainer,
      programs: { 'lota-trainer': [cli[0] ?? 'node', `${repoRoot}e2e/fixtures/scripted-trainer.ts`] },
    },
    { match: 'lota-trainer', ...trainer },
    { match: 'busybox', host: true },
    { match: 'alpine', host: true },
  ];
}
