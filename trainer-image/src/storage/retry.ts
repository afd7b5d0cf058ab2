// Retries inside the pod: a transient failure (5xx, 429, reset or refused connection) is tried again with exponential
// backoff and jitter; only one that persists reaches the Job as a (retryable or unreachable) failure.
import { setTimeout as sleep } from 'node:timers/promises';
import { isTransient, toStorageError } from './errors.ts';

export interface RetryOptions {
  attempts?: number;
  baseMs?: number;
  maxMs?: number;
  onRetry?: (attempt: number, error: unknown, delayMs: number) => void;
}

const DEFAULTS = { attempts: Number(process.env.LOTA_STORAGE_ATTEMPTS ?? 5), baseMs: 200, maxMs: 5000 };

export async function withRetry<T>(
  uri: string,
  what: string,
  fn: () => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? DEFAULTS.attempts;
  const baseMs = options.baseMs ?? DEFAULTS.baseMs;
  const maxMs = options.maxMs ?? DEFAULTS.maxMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= attempts || !isTransient(error)) throw toStorageError(uri, what, error);
      const delayMs = Math.min(maxMs, baseMs * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
      options.onRetry?.(attempt, error, delayMs);
      await sleep(delayMs);
    }
  }
}
