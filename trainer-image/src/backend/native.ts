// The native `tensorflow` tfjs backend: tfjs-node's N-API binding over TensorFlow's C API, built from source by
// scripts/setup-native.sh (see docs/native-backend.md). Present → registered; absent → false; present but broken →
// an error naming the binding, never a quiet fall-back to a slower backend.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import util from 'node:util';

const require = createRequire(import.meta.url);

/** Where tfjs-node loads its binding from (node-pre-gyp's path), or undefined when tfjs-node is not installed. */
export function nativeBindingPath(): string | undefined {
  let packageJson: string;
  try {
    packageJson = require.resolve('@tensorflow/tfjs-node/package.json');
  } catch {
    return undefined;
  }
  const preGyp = createRequire(packageJson)('@mapbox/node-pre-gyp') as { find(packageJson: string): string };
  return preGyp.find(packageJson);
}

let loading: Promise<boolean> | undefined;

/**
 * Registers (and, as tfjs-node does on import, activates) the `tensorflow` backend when the built binding is
 * present. Resolves false only when no binding was built; a binding that fails to load rejects with the loader's
 * error. Safe to call repeatedly.
 */
export function loadNativeBackend(): Promise<boolean> {
  loading ??= load();
  return loading;
}

/** The TensorFlow version behind the native backend, once loaded (the C API's TF_Version()). */
export function nativeTensorFlowVersion(): string | undefined {
  return tfVersion;
}

let tfVersion: string | undefined;

async function load(): Promise<boolean> {
  const binding = nativeBindingPath();
  if (binding === undefined || !existsSync(binding)) return false;
  // TensorFlow logs oneDNN/CPU-feature notices at INFO on start-up; keep warnings and errors.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '1';
  // tfjs-node 4.22's kernels call util.isNullOrUndefined, which Node 23 removed; restore its exact semantics.
  const nodeUtil = util as unknown as Record<string, unknown>;
  if (typeof nodeUtil.isNullOrUndefined !== 'function') {
    nodeUtil.isNullOrUndefined = (value: unknown) => value === null || value === undefined;
  }
  try {
    await import('@tensorflow/tfjs-node');
    tfVersion = (require(binding) as { TF_Version: string }).TF_Version;
  } catch (err) {
    throw new Error(
      `the native TensorFlow binding at ${binding} is present but does not load (rebuild it with 'bash scripts/setup-native.sh'): ${(err as Error).message}`,
      { cause: err },
    );
  }
  return true;
}
