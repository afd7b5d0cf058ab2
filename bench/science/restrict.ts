// An FFT model restricted to LoTA's target tensors: the target tensors (q/k/v/o/gate/up/down) of the fine-tuned
// model, every other tensor (embeddings, norms, lm_head) from the base — so that an FFT task vector merged against
// tickets changes the same tensors a ticket can.
import { DEFAULT_TARGETS, targetMatcher } from '@lota/api';
import { Checkpoint, CheckpointWriter } from '../../trainer-image/src/io/checkpoint.ts';

export async function restrictToTargets(baseDir: string, modelDir: string, outDir: string): Promise<void> {
  const isTarget = targetMatcher(DEFAULT_TARGETS);
  const [base, model] = await Promise.all([Checkpoint.open(baseDir), Checkpoint.open(modelDir)]);
  try {
    const names = base.names();
    const writer = await CheckpointWriter.create(
      outDir,
      names.map((n) => base.info(n)),
      { dtype: 'f32', sideFilesFrom: baseDir },
    );
    for (const name of names) await writer.write(name, await (isTarget(name) ? model : base).readFloat32(name));
    await writer.close();
  } finally {
    await Promise.all([base.close(), model.close()]);
  }
}
