// Learning rate at a (1-based) optimizer step: linear warmup, then constant or cosine decay to minLr.

export interface LrSchedule {
  lr: number;
  warmupSteps?: number;
  kind?: 'constant' | 'cosine';
  totalSteps?: number;
  minLr?: number;
}

export function learningRate(schedule: LrSchedule, step: number): number {
  const { lr, warmupSteps = 0, kind = 'constant', totalSteps = 0, minLr = 0 } = schedule;
  if (step <= warmupSteps) return (lr * step) / warmupSteps;
  if (kind === 'constant') return lr;
  if (totalSteps <= warmupSteps) throw new Error('cosine schedule needs totalSteps greater than warmupSteps');
  const progress = Math.min(1, (step - warmupSteps) / (totalSteps - warmupSteps));
  return minLr + (lr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
