import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { BackendError, selectBackend } from '../../src/backend/select.ts';

const saved = process.env.LOTA_BACKEND;
afterEach(() => {
  if (saved === undefined) delete process.env.LOTA_BACKEND;
  else process.env.LOTA_BACKEND = saved;
});

describe('selectBackend', () => {
  it('activates and logs the requested backend', async () => {
    const lines: string[] = [];
    expect(await selectBackend('wasm', (l) => lines.push(l))).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(lines).toEqual(['tfjs backend: wasm (requested)']);
  });

  it('honours LOTA_BACKEND', async () => {
    process.env.LOTA_BACKEND = 'cpu';
    expect(await selectBackend(undefined, () => {})).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });

  it('refuses an unknown backend name, naming where it came from', async () => {
    process.env.LOTA_BACKEND = 'webgpu';
    await expect(selectBackend(undefined, () => {})).rejects.toThrow(BackendError);
    await expect(selectBackend(undefined, () => {})).rejects.toThrow(
      'LOTA_BACKEND: unknown backend "webgpu" (expected one of tensorflow, wasm, cpu)',
    );
  });

  it('without a request picks the fastest that starts and says so', async () => {
    delete process.env.LOTA_BACKEND;
    const lines: string[] = [];
    const name = await selectBackend(undefined, (l) => lines.push(l));
    expect(['tensorflow', 'wasm']).toContain(name);
    expect(lines).toEqual([`tfjs backend: ${name} (fastest available)`]);
  });
});
