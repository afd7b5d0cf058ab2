// Learning rate at a (1-based) optimizer step: linear warmup, then constant, linear decay or cosine decay to minLr.
// Linear is Hugging Face's get_linear_schedule_with_warmup (minLr 0): its multiplier max(0, (T − s)/(T − W)) at
// step s, reaching minLr at the last step as cosine does.

export interface LrSchedule {
  lr: number;
  warmupSteps?: number;
  kind?: 'constant' | 'linear' | 'cosine';
  totalSteps?: number;
  minLr?: number;
}

export function learningRate(schedule: LrSchedule, step: number): number {
  const { lr, warmupSteps = 0, kind = 'constant', totalSteps = 0, minLr = 0 } = schedule;
  if (step <= warmupSteps) return (lr * step) / warmupSteps;
  if (kind === 'constant') return lr;
  if (totalSteps <= warmupSteps) throw new Error(`${kind} schedule needs totalSteps greater than warmupSteps`);
  const progress = Math.min(1, (step - warmupSteps) / (totalSteps - warmupSteps));
  const decay = kind === 'linear' ? 1 - progress : 0.5 * (1 + Math.cos(Math.PI * progress));
  return minLr + (lr - minLr) * decay;
}
