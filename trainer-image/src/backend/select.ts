// Chooses the tfjs backend: native TensorFlow when its binding is present, then WebAssembly, then pure JS.
// LOTA_BACKEND (or an explicit request) names one backend and fails loudly if that one cannot start.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

const BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

export class BackendError extends Error {
  override name = 'BackendError';
}

async function loadNative(): Promise<boolean> {
  let mod: { loadNativeBackend?: () => Promise<boolean> };
  try {
    // A variable specifier: native.ts is written by the native-tf work and may not exist in every checkout.
    const specifier = './native.ts';
    mod = await import(specifier);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return false;
    throw err;
  }
  return typeof mod.loadNativeBackend === 'function' ? mod.loadNativeBackend() : false;
}

let wasmPathsSet = false;
function prepareWasm(): void {
  if (wasmPathsSet) return;
  // In Node the .wasm files are read from the package's dist folder (a path prefix ending in '/').
  const entry = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
  setWasmPaths(`${join(dirname(entry), '/')}`);
  wasmPathsSet = true;
}

async function tryBackend(name: BackendName): Promise<boolean> {
  if (name === 'tensorflow' && !(await loadNative())) return false;
  if (name === 'wasm') prepareWasm();
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

export function parseBackendName(value: string, source: string): BackendName {
  if ((BACKENDS as readonly string[]).includes(value)) return value as BackendName;
  throw new BackendError(`${source}: unknown backend "${value}" (expected one of ${BACKENDS.join(', ')})`);
}

/**
 * Activates `requested` (or LOTA_BACKEND), else the first of tensorflow → wasm → cpu that starts. Returns its name.
 * `log` receives one line saying which backend was chosen and why.
 */
export async function selectBackend(
  requested?: string,
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<BackendName> {
  const wanted = requested ?? process.env.LOTA_BACKEND;
  if (wanted !== undefined && wanted !== '') {
    const name = parseBackendName(wanted, requested !== undefined ? 'backend option' : 'LOTA_BACKEND');
    if (!(await tryBackend(name))) throw new BackendError(`backend "${name}" was requested but could not be started`);
    await tf.ready();
    log(`tfjs backend: ${name} (requested)`);
    return name;
  }
  for (const name of BACKENDS) {
    if (await tryBackend(name)) {
      await tf.ready();
      log(`tfjs backend: ${name} (fastest available)`);
      return name;
    }
  }
  throw new BackendError('no tfjs backend could be started');
}
